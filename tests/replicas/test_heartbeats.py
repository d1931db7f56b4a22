"""Heartbeats in the store a fleet shares: two real ``triagebot serve`` processes on one SQLite
file. The one stopped cleanly (SIGTERM) deletes its heartbeat; the one killed leaves it running
out, and the pruner deletes it an hour after that (``tests/store/test_retention.py`` has the
same for DynamoDB's TTL)."""

from __future__ import annotations

import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.demo.slack_api import FakeSlackApi
from bot.store import SqliteStore
from bot.store.retention import EXPIRED_LEASE_KEEP, Retention
from tests.support.bot_serve import bot_serve
from tests.support.serve_process import ServeProcess


def heartbeats(store: Path) -> dict[str, datetime]:
    """The heartbeat rows in the file, and when each runs out."""
    with sqlite3.connect(store) as conn:
        rows = conn.execute(
            "SELECT name, expires_at FROM leases WHERE name LIKE 'replica:%'"
        ).fetchall()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return {name: epoch + timedelta(microseconds=us) for name, us in rows}


def heartbeat_of(serve: ServeProcess) -> str:
    assert serve.process is not None
    return f"replica:{socket.gethostname()}:{serve.process.pid}"


async def test_a_replica_stopped_cleanly_deletes_its_heartbeat_a_killed_ones_expires(
    tmp_path: Path, moto_url: str
) -> None:
    store = tmp_path / "state.db"
    async with FakeSlackApi() as slack:
        replicas = []
        for name in ("stopped", "killed"):
            (tmp_path / name).mkdir()
            replicas.append(
                bot_serve(tmp_path / name, store=store, slack_url=slack.base_url, moto_url=moto_url)
            )
        stopped, killed = replicas
        try:
            for serve in replicas:
                await serve.start()  # healthy once its first heartbeat is in the store
            assert set(heartbeats(store)) == {heartbeat_of(stopped), heartbeat_of(killed)}

            assert stopped.stop() == 0
            assert set(heartbeats(store)) == {heartbeat_of(killed)}
            killed.kill()
        finally:
            for serve in replicas:
                serve.stop()
    left = heartbeats(store)
    assert set(left) == {heartbeat_of(killed)}  # nobody said it stopped: it runs out

    ran_out = left[heartbeat_of(killed)]
    pruner = SqliteStore(store)
    await pruner.start()
    try:
        forever = Retention(keep=timedelta(days=365))
        assert (await pruner.prune(forever.cutoffs(ran_out))).leases == 0
        after = ran_out + EXPIRED_LEASE_KEEP + timedelta(seconds=1)
        assert (await pruner.prune(forever.cutoffs(after))).leases == 1
    finally:
        await pruner.close()
    assert heartbeats(store) == {}
