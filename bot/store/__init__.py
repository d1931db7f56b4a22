"""Durable state: run history, the alarm inbox, incidents, schedule state and leases."""

from __future__ import annotations

import re

from bot.aws import AwsClients
from bot.config import Settings
from bot.errors import ConfigError
from bot.store.base import InboxItem, Incident, RunRecord, Store
from bot.store.dynamodb import DynamoDbStore
from bot.store.retention import Retention
from bot.store.sqlite import SqliteStore

__all__ = [
    "DynamoDbStore",
    "InboxItem",
    "Incident",
    "RunRecord",
    "SqliteStore",
    "Store",
    "open_store",
]

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def open_store(settings: Settings, aws: AwsClients | None = None) -> Store:
    """The store ``[store] url`` names; it opens (and creates its file or table) on ``start()``.

    ``dynamodb://table-name`` uses ``aws`` when given, else clients of its own (the bot's own
    credentials, ``[aws] region``, ``AWS_ENDPOINT_URL``) that close with the store.
    """
    path = settings.sqlite_path()
    if path is not None:
        return SqliteStore(path)
    table = settings.store.url.removeprefix("dynamodb://")
    if not _TABLE_NAME.fullmatch(table):
        raise ConfigError(
            f"`store.url` = {settings.store.url!r}: a DynamoDB table name is 3 to 255 letters, "
            "digits, `_`, `-` or `.` (dynamodb://triagebot-state)"
        )
    retention = Retention.from_settings(settings)
    if aws is not None:
        return DynamoDbStore(aws, table, retention=retention)
    own = AwsClients(settings.aws, endpoint_url=settings.aws_endpoint_url, max_workers=16)
    return DynamoDbStore(own, table, owns_aws=True, retention=retention)
