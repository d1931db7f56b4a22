"""What ``/healthz`` asks of a store, on SQLite and DynamoDB (moto): a real write that fails the
way real writes would, and the count of alarm messages given up on."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from bot.health import HealthMonitor, SlackAuth
from bot.store import SqliteStore, Store
from bot.store.base import StoreUnavailable
from tests.store.helpers import T0, TABLE, dynamodb_store


@pytest.fixture(params=["sqlite", "dynamodb"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "data" / "triagebot.db")
    request.getfixturevalue("atomic_dynamodb")
    session = request.getfixturevalue("session")  # moto, in-process
    return lambda: dynamodb_store(session)


@pytest.fixture
async def store(opener: Callable[[], Store]) -> AsyncIterator[Store]:
    s = opener()
    await s.start()
    yield s
    await s.close()


async def test_a_fresh_store_is_writable_and_has_no_failed_messages(store: Store) -> None:
    await store.check_writable()
    await store.check_writable()  # the same process's health item, written again
    assert await store.healthy()
    assert await store.inbox_failed_count() == 0


async def test_messages_given_up_on_are_counted(store: Store) -> None:
    for message_id in ("m1", "m2", "m3"):
        await store.inbox_add(message_id, "sns", "{}", T0)
    await store.inbox_failed("m1", "boom")
    await store.inbox_failed("m2", "boom")
    await store.inbox_done("m3")
    assert await store.inbox_failed_count() == 2
    assert [i.message_id for i in await store.inbox_unfinished(T0)] == []


async def test_sqlite_says_so_when_its_file_is_deleted_and_writes_nothing_more(
    tmp_path: Path,
) -> None:
    db = tmp_path / "data" / "triagebot.db"
    store = SqliteStore(db)
    await store.start()
    try:
        shutil.rmtree(db.parent)
        with pytest.raises(StoreUnavailable, match=f"the store file {db} is gone"):
            await store.check_writable()
        with pytest.raises(StoreUnavailable, match="is gone"):
            await store.inbox_add("m1", "sns", "{}", T0)  # POST /sns answers 503 on this
        assert not await store.healthy()
    finally:
        await store.close()


async def test_sqlite_says_so_when_another_file_takes_its_path(tmp_path: Path) -> None:
    db = tmp_path / "triagebot.db"
    store = SqliteStore(db)
    await store.start()
    try:
        db.rename(tmp_path / "moved.db")
        db.write_bytes(b"")
        with pytest.raises(StoreUnavailable, match="not the file that was opened"):
            await store.check_writable()
    finally:
        await store.close()


async def test_sqlite_counts_a_nearly_full_disk_as_full(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "triagebot.db", min_free_bytes=2**62)
    await store.start()
    try:
        with pytest.raises(StoreUnavailable, match="is full"):
            await store.check_writable()
    finally:
        await store.close()


async def test_dynamodb_says_so_when_its_table_is_gone(
    atomic_dynamodb: None, session: boto3.Session
) -> None:
    store = dynamodb_store(session)
    await store.start()
    try:
        session.client("dynamodb").delete_table(TableName=TABLE)
        with pytest.raises(StoreUnavailable, match=f"the DynamoDB store {TABLE} cannot be written"):
            await store.check_writable()
        with pytest.raises(StoreUnavailable, match="did not record the message"):
            await store.inbox_add("m1", "sns", "{}", T0)
    finally:
        await store.close()


async def _slack_ok() -> SlackAuth:
    return SlackAuth("ok")


async def test_start_up_waits_for_a_store_that_is_slow_and_gives_up_after_its_patience(
    tmp_path: Path,
) -> None:
    """Another connection holds the write lock (a killed process's log being recovered, a
    loaded disk): the start-up check times out once, asks again and goes through when the lock
    is let go; with no patience left it is a TimeoutError (start-up refuses, naming it)."""
    db = tmp_path / "triagebot.db"
    store = SqliteStore(db)
    await store.start()
    monitor = HealthMonitor(store, _slack_ok, store_timeout=timedelta(seconds=0.2))
    locker = sqlite3.connect(db, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(TimeoutError):
            await monitor.require_writable_store(patience=timedelta(0))
        waiting = asyncio.create_task(
            monitor.require_writable_store(patience=timedelta(seconds=30))
        )
        done, _ = await asyncio.wait([waiting], timeout=0.6)  # past a few 0.2 s timeouts
        assert not done, "the check gave up while the store was only slow"
        locker.execute("COMMIT")
        await asyncio.wait_for(waiting, 15)  # and goes through once the lock is let go
    finally:
        locker.close()
        await store.close()
