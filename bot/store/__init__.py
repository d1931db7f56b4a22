"""Durable state: run history, the alarm inbox, incidents, schedule state and leases."""

from __future__ import annotations

from bot.config import Settings
from bot.errors import ConfigError
from bot.store.base import InboxItem, Incident, RunRecord, Store
from bot.store.sqlite import SqliteStore

__all__ = ["InboxItem", "Incident", "RunRecord", "SqliteStore", "Store", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store ``[store] url`` names; it opens (and creates its file) on ``start()``."""
    path = settings.sqlite_path()
    if path is not None:
        return SqliteStore(path)
    raise ConfigError(
        f"`store.url` = {settings.store.url!r}: the DynamoDB store is not available yet; "
        "use sqlite:///path/to/state.db"
    )
