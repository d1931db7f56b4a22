"""Fixtures for the store tests."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's DynamoDB writes atomic, as DynamoDB's are.

    moto reads an item, evaluates the condition and writes, without a lock: two threads can both
    pass one ``attribute_not_exists``. DynamoDB evaluates a condition and writes atomically; so
    does moto (in-process, or its server in a thread of this process) with this fixture, so that
    the race tests check the store's conditions rather than a gap in the fake.
    """
    lock = threading.RLock()

    def locked(write: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(write)
        def under_lock(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return write(*args, **kwargs)

        return under_lock

    for name in _WRITES:
        monkeypatch.setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
