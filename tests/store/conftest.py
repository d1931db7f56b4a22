"""Fixtures for the store tests."""

from __future__ import annotations

import pytest

from tests.support.atomic_moto import make_writes_atomic


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's DynamoDB writes atomic, as DynamoDB's are.

    moto reads an item, evaluates the condition and writes, without a lock: two threads can both
    pass one ``attribute_not_exists``. DynamoDB evaluates a condition and writes atomically; so
    does moto (in-process, or its server in a thread of this process) with this fixture, so that
    the race tests check the store's conditions rather than a gap in the fake.
    """
    make_writes_atomic(monkeypatch.setattr)
