"""What only the SQLite store does: its file, WAL mode, migrations, and real processes.

The behaviour every store shares is checked in ``test_contract.py``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings, StoreSettings
from bot.errors import ConfigError
from bot.store import SqliteStore, open_store
from bot.store.sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from tests.store.helpers import T0


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "nested" / "triagebot.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(db_path)
    await s.start()
    yield s
    await s.close()


# --- opening ---------------------------------------------------------------------------------


async def test_first_start_creates_the_file_its_directories_and_a_wal_database(
    store: SqliteStore, db_path: Path
) -> None:
    assert db_path.exists()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert await store.healthy()


async def test_a_version_1_store_is_migrated_and_keeps_its_runs(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as raw:
        for statement in MIGRATIONS[0]:
            raw.execute(statement)
        raw.execute("PRAGMA user_version = 1")
        raw.execute(
            "INSERT INTO runs VALUES ('r1', 'C1', 'U1', 'health', '{}', 'slash', 1, NULL,"
            " 'running', '{}', '', '')"
        )
    s = SqliteStore(db_path)
    await s.start()
    await s.save_output("r1", "full text")
    assert await s.run_output("r1") == "full text"
    assert (await s.get_run("r1")) is not None
    await s.close()


async def test_a_version_4_stores_incidents_keep_and_gain_their_notes(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as raw:
        for migration in MIGRATIONS[:4]:
            for statement in migration:
                raw.execute(statement)
        raw.execute("PRAGMA user_version = 4")
        raw.execute(
            "INSERT INTO incidents (key, route, channel, root_ts, state, opened_at,"
            " state_changed_at, alarm_name, acknowledged_by, muted_until, resolved_at,"
            " storm_root_ts, version) VALUES ('k', 'r', 'C1', '1.2', 'OK', 1, 2, 'a', '', NULL,"
            " 2, '', 3)"
        )
    s = SqliteStore(db_path)
    await s.start()
    old = await s.incident_get("k")
    assert old is not None and old.note == "" and old.note_by == "" and old.version == 3
    assert await s.incident_update(replace(old, note="rolled back", note_by="U1"), 3)
    noted = await s.incident_get("k")
    assert noted is not None and (noted.note, noted.note_by) == ("rolled back", "U1")
    await s.close()


async def test_healthy_is_false_after_close(db_path: Path) -> None:
    s = SqliteStore(db_path)
    await s.start()
    await s.close()
    assert not await s.healthy()


async def test_a_newer_schema_is_refused_with_a_clear_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as raw:
        raw.execute("PRAGMA user_version = 99")
    s = SqliteStore(db_path)
    with pytest.raises(ConfigError, match="schema version 99"):
        await s.start()
    await s.close()


async def test_a_file_that_is_not_a_database_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("this is not sqlite, just some text that is long enough " * 20)
    s = SqliteStore(path)
    with pytest.raises(ConfigError, match="cannot open the store"):
        await s.start()
    await s.close()


async def test_open_store_reads_the_url_from_settings(tmp_path: Path) -> None:
    settings = Settings(store=StoreSettings(url="sqlite:///data/state.db"), base_dir=str(tmp_path))
    s = open_store(settings)
    await s.start()
    assert (tmp_path / "data" / "state.db").exists()
    await s.close()


def _claim_in_a_process(path: str, owner: str, start_at: float) -> bool:
    async def claim() -> bool:
        s = SqliteStore(path)
        await s.start()
        try:
            while time.time() < start_at:
                await asyncio.sleep(0.001)
            return await s.claim_once("digest:2026-11-20", owner, datetime.now(UTC))
        finally:
            await s.close()

    return asyncio.run(claim())


def test_claim_once_between_real_processes(db_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 2.0  # all processes are up and have the file open by then
    with ctx.Pool(6) as pool:
        results = pool.starmap(
            _claim_in_a_process, [(str(db_path), f"proc-{i}", start_at) for i in range(6)]
        )
    assert results.count(True) == 1


# --- durability ------------------------------------------------------------------------------


async def test_writes_are_visible_to_a_plain_connection_at_once(
    store: SqliteStore, db_path: Path
) -> None:
    """Committed before the coroutine returns: another reader sees it immediately."""
    await store.inbox_add("m1", "sns", "{}", T0)
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT status FROM inbox WHERE message_id = 'm1'").fetchall() == [
            ("pending",)
        ]
