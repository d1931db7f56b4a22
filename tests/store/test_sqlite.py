"""The SQLite store on a real file: round trips, dedupe, and claims and leases across processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings, StoreSettings
from bot.errors import ConfigError
from bot.store import Incident, RunRecord, SqliteStore, open_store
from bot.store.sqlite_schema import MIGRATIONS, SCHEMA_VERSION

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "nested" / "triagebot.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(db_path)
    await s.start()
    yield s
    await s.close()


@pytest.fixture
async def other(db_path: Path, store: SqliteStore) -> AsyncIterator[SqliteStore]:
    """A second store on the same file, as a second process would have."""
    s = SqliteStore(db_path)
    await s.start()
    yield s
    await s.close()


def run(run_id: str, channel: str = "C1", minutes: int = 0, **changes: object) -> RunRecord:
    rec = RunRecord(
        run_id=run_id,
        channel=channel,
        user="U1",
        playbook="alb-errors",
        params={"load_balancer": "app/prod/123", "lookback": "1h"},
        source="slash",
        started_at=T0 + timedelta(minutes=minutes),
        finished_at=None,
        outcome="running",
        step_statuses={},
    )
    return replace(rec, **changes)  # type: ignore[arg-type]


def incident(key: str = "111122223333/us-east-1/prod-api-5xx", **changes: object) -> Incident:
    inc = Incident(
        key=key,
        route="alb",
        channel="C1",
        root_ts="",
        state="ALARM",
        opened_at=T0,
        state_changed_at=T0,
        alarm_name="prod-api-5xx",
    )
    return replace(inc, **changes)  # type: ignore[arg-type]


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


def test_open_store_refuses_dynamodb_for_now() -> None:
    settings = Settings(store=StoreSettings(url="dynamodb://triagebot"))
    with pytest.raises(ConfigError, match="DynamoDB store is not available yet"):
        open_store(settings)


# --- runs ------------------------------------------------------------------------------------


async def test_a_run_round_trips_and_finishes(store: SqliteStore) -> None:
    rec = run("r1", message_ts="1700000000.000100", thread_ts="1700000000.000050")
    await store.record_run(rec)
    assert await store.get_run("r1") == rec

    done = T0 + timedelta(seconds=42, microseconds=123457)
    assert await store.finish_run("r1", done, "warn", {"targets": "warn", "changes": "ok"})
    got = await store.get_run("r1")
    assert got is not None
    assert got.finished_at == done
    assert got.outcome == "warn"
    assert got.step_statuses == {"targets": "warn", "changes": "ok"}
    assert got.params == rec.params


async def test_finishing_an_unknown_run_says_so(store: SqliteStore) -> None:
    assert not await store.finish_run("nope", T0, "ok", {})
    assert await store.get_run("nope") is None


async def test_record_run_replaces_the_same_run_id(store: SqliteStore) -> None:
    await store.record_run(run("r1"))
    await store.record_run(run("r1", message_ts="1700000000.000200"))
    got = await store.get_run("r1")
    assert got is not None and got.message_ts == "1700000000.000200"


async def test_recent_runs_are_per_channel_newest_first_and_limited(store: SqliteStore) -> None:
    for i in range(6):
        await store.record_run(run(f"c1-{i}", "C1", minutes=i))
    await store.record_run(run("c2-0", "C2", minutes=10))

    recent = await store.recent_runs("C1", 3)
    assert [r.run_id for r in recent] == ["c1-5", "c1-4", "c1-3"]
    assert [r.run_id for r in await store.recent_runs("C2", 10)] == ["c2-0"]
    assert await store.recent_runs("C3", 10) == []


def test_records_refuse_unknown_sources() -> None:
    with pytest.raises(ValueError, match="source must be one of"):
        run("r1", source="email")


# --- inbox -----------------------------------------------------------------------------------


async def test_inbox_add_dedupes_by_message_id(store: SqliteStore) -> None:
    assert await store.inbox_add("m1", "sns", '{"a": 1}', T0)
    assert not await store.inbox_add("m1", "sqs", '{"a": 1}', T0 + timedelta(seconds=5))
    item = await store.inbox_get("m1")
    assert item is not None
    assert (item.source, item.status, item.body, item.received_at) == (
        "sns",
        "pending",
        '{"a": 1}',
        T0,
    )


async def test_twenty_concurrent_adds_of_one_message_record_it_once(store: SqliteStore) -> None:
    results = await asyncio.gather(*(store.inbox_add("m1", "sns", "{}", T0) for _ in range(20)))
    assert results.count(True) == 1


async def test_two_stores_on_one_file_add_a_message_once(
    store: SqliteStore, other: SqliteStore
) -> None:
    adds = [s.inbox_add(f"m{i}", "sns", "{}", T0) for i in range(30) for s in (store, other)]
    results = await asyncio.gather(*adds)
    assert results.count(True) == 30


async def test_only_one_claimant_until_the_lease_expires(store: SqliteStore) -> None:
    await store.inbox_add("m1", "sns", "{}", T0)
    lease = timedelta(minutes=5)
    assert await store.inbox_claim("m1", "worker-a", lease, T0)
    assert not await store.inbox_claim("m1", "worker-b", lease, T0 + timedelta(minutes=4))
    assert not await store.inbox_claim("m1", "worker-a", lease, T0 + timedelta(minutes=1))

    # worker-a died: once its lease ran out, worker-b takes over
    assert await store.inbox_claim("m1", "worker-b", lease, T0 + timedelta(minutes=5))
    item = await store.inbox_get("m1")
    assert item is not None
    assert (item.status, item.owner, item.attempts) == ("processing", "worker-b", 2)
    assert item.lease_until == T0 + timedelta(minutes=10)


async def test_two_stores_racing_for_a_claim_have_one_winner(
    store: SqliteStore, other: SqliteStore
) -> None:
    for i in range(20):
        await store.inbox_add(f"m{i}", "sqs", "{}", T0)
    lease = timedelta(minutes=1)
    claims = [
        s.inbox_claim(f"m{i}", name, lease, T0)
        for i in range(20)
        for s, name in ((store, "a"), (other, "b"), (store, "c"), (other, "d"))
    ]
    results = await asyncio.gather(*claims)
    for i in range(20):
        assert results[i * 4 : i * 4 + 4].count(True) == 1, f"m{i}"


async def test_done_and_failed_messages_are_not_claimed_again(store: SqliteStore) -> None:
    for mid in ("m1", "m2"):
        await store.inbox_add(mid, "sns", "{}", T0)
        assert await store.inbox_claim(mid, "a", timedelta(seconds=30), T0)
    await store.inbox_done("m1")
    await store.inbox_failed("m2", "playbook alb-errors not found")

    later = T0 + timedelta(hours=1)
    assert not await store.inbox_claim("m1", "b", timedelta(seconds=30), later)
    assert not await store.inbox_claim("m2", "b", timedelta(seconds=30), later)
    failed = await store.inbox_get("m2")
    assert failed is not None
    assert (failed.status, failed.error) == ("failed", "playbook alb-errors not found")
    assert await store.inbox_unfinished(later) == []


async def test_unfinished_lists_pending_and_expired_claims_oldest_first(
    store: SqliteStore,
) -> None:
    await store.inbox_add("new", "sns", "{}", T0 + timedelta(seconds=3))
    await store.inbox_add("old", "sns", "{}", T0)
    await store.inbox_add("held", "sns", "{}", T0 + timedelta(seconds=1))
    await store.inbox_add("stale", "sns", "{}", T0 + timedelta(seconds=2))
    await store.inbox_add("finished", "sns", "{}", T0)
    await store.inbox_claim("held", "a", timedelta(minutes=10), T0)
    await store.inbox_claim("stale", "a", timedelta(minutes=1), T0)
    await store.inbox_done("finished")

    now = T0 + timedelta(minutes=2)
    assert [i.message_id for i in await store.inbox_unfinished(now)] == ["old", "stale", "new"]


# --- incidents -------------------------------------------------------------------------------


async def test_an_incident_round_trips(store: SqliteStore) -> None:
    inc = incident(root_ts="1700000000.000100", muted_until=T0 + timedelta(hours=1))
    assert await store.incident_create(inc)
    assert await store.incident_get(inc.key) == inc
    assert await store.incident_find_by_root("C1", "1700000000.000100") == inc
    assert await store.incident_find_by_root("C2", "1700000000.000100") is None
    assert await store.incident_get("other") is None


async def test_only_one_open_incident_per_key(store: SqliteStore, other: SqliteStore) -> None:
    first = incident()
    results = await asyncio.gather(
        store.incident_create(first),
        other.incident_create(replace(first, opened_at=T0 + timedelta(seconds=1))),
        store.incident_create(replace(first, opened_at=T0 + timedelta(seconds=2))),
    )
    assert results.count(True) == 1


async def test_a_new_incident_may_open_once_the_last_is_resolved(store: SqliteStore) -> None:
    first = incident()
    assert await store.incident_create(first)
    resolved = replace(first, state="OK", resolved_at=T0 + timedelta(minutes=14))
    assert await store.incident_update(resolved, expected_version=0)

    second = incident(opened_at=T0 + timedelta(hours=1), state_changed_at=T0 + timedelta(hours=1))
    assert await store.incident_create(second)
    assert await store.incident_get(first.key) == second

    # reopening the old one would make two open incidents for one key
    reopened = replace(resolved, resolved_at=None, version=1)
    assert not await store.incident_update(reopened, expected_version=1)


async def test_incident_update_is_compare_and_set_on_version(
    store: SqliteStore, other: SqliteStore
) -> None:
    inc = incident()
    await store.incident_create(inc)

    acked = replace(inc, acknowledged_by="U1", root_ts="1700000000.000100")
    assert await store.incident_update(acked, expected_version=0)
    # someone else still holds version 0: their write must not clobber the ack
    muted = replace(inc, muted_until=T0 + timedelta(hours=1))
    assert not await other.incident_update(muted, expected_version=0)

    got = await other.incident_get(inc.key)
    assert got is not None
    assert got.version == 1
    assert got.acknowledged_by == "U1"
    assert got.muted_until is None
    assert await other.incident_update(replace(got, muted_until=T0), expected_version=1)
    latest = await store.incident_get(inc.key)
    assert latest is not None and latest.version == 2 and latest.acknowledged_by == "U1"


async def test_racing_updates_from_two_stores_have_one_winner(
    store: SqliteStore, other: SqliteStore
) -> None:
    inc = incident()
    await store.incident_create(inc)
    results = await asyncio.gather(
        *(
            s.incident_update(replace(inc, acknowledged_by=f"U{i}"), expected_version=0)
            for i, s in enumerate([store, other] * 5)
        )
    )
    assert results.count(True) == 1


async def test_incidents_opened_since_counts_one_route_in_the_window(store: SqliteStore) -> None:
    for i in range(4):
        await store.incident_create(incident(f"k{i}", opened_at=T0 + timedelta(seconds=30 * i)))
    await store.incident_create(incident("other-route", route="rds", opened_at=T0))

    assert await store.incidents_opened_since("alb", T0) == 4
    assert await store.incidents_opened_since("alb", T0 + timedelta(seconds=31)) == 2
    assert await store.incidents_opened_since("rds", T0) == 1
    assert await store.incidents_opened_since("lambda", T0) == 0


# --- leases, schedule, claims ----------------------------------------------------------------


async def test_a_lease_is_held_until_it_expires_or_is_released(store: SqliteStore) -> None:
    ttl = timedelta(minutes=1)
    assert await store.lease_acquire("digest", "a", ttl, T0)
    assert not await store.lease_acquire("digest", "b", ttl, T0 + timedelta(seconds=59))
    assert await store.lease_acquire("digest", "a", ttl, T0 + timedelta(seconds=30))  # renew
    assert not await store.lease_acquire("digest", "b", ttl, T0 + timedelta(seconds=89))
    assert await store.lease_acquire("digest", "b", ttl, T0 + timedelta(seconds=90))  # expired

    await store.lease_release("digest", "a")  # not a's any more: no effect
    assert not await store.lease_acquire("digest", "a", ttl, T0 + timedelta(seconds=91))
    await store.lease_release("digest", "b")
    assert await store.lease_acquire("digest", "a", ttl, T0 + timedelta(seconds=91))


async def test_two_stores_racing_for_a_lease_have_one_winner(
    store: SqliteStore, other: SqliteStore
) -> None:
    ttl = timedelta(minutes=1)
    results = await asyncio.gather(
        *(
            s.lease_acquire(f"lease{n}", f"{owner}", ttl, T0)
            for n in range(10)
            for s, owner in ((store, "a"), (other, "b"))
        )
    )
    for n in range(10):
        assert results[2 * n : 2 * n + 2].count(True) == 1


async def test_schedule_state_is_set_and_overwritten(store: SqliteStore) -> None:
    assert await store.schedule_get("digest") is None
    await store.schedule_set("digest", "2026-11-19")
    await store.schedule_set("digest", "2026-11-20")
    assert await store.schedule_get("digest") == "2026-11-20"


async def test_claim_once_is_once_ever(store: SqliteStore, other: SqliteStore) -> None:
    results = await asyncio.gather(
        *(
            s.claim_once("digest:2026-11-20", s_name, T0)
            for s, s_name in [(store, "a"), (other, "b")] * 5
        )
    )
    assert results.count(True) == 1
    assert not await store.claim_once("digest:2026-11-20", "a", T0 + timedelta(days=30))
    assert await store.claim_once("digest:2026-11-21", "a", T0 + timedelta(days=1))


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


async def test_everything_survives_close_and_reopen(db_path: Path) -> None:
    s = SqliteStore(db_path)
    await s.record_run(run("r1"))
    await s.inbox_add("m1", "sns", "{}", T0)
    await s.incident_create(incident())
    await s.schedule_set("digest", "2026-11-20")
    await s.claim_once("digest:2026-11-20", "a", T0)
    await s.lease_acquire("digest", "a", timedelta(minutes=5), T0)
    await s.close()

    again = SqliteStore(db_path)
    try:
        assert await again.get_run("r1") == run("r1")
        assert not await again.inbox_add("m1", "sns", "{}", T0)
        assert await again.incident_get(incident().key) == incident()
        assert await again.schedule_get("digest") == "2026-11-20"
        assert not await again.claim_once("digest:2026-11-20", "b", T0)
        assert not await again.lease_acquire("digest", "b", timedelta(minutes=5), T0)
    finally:
        await again.close()


async def test_writes_are_visible_to_a_plain_connection_at_once(
    store: SqliteStore, db_path: Path
) -> None:
    """Committed before the coroutine returns: another reader sees it immediately."""
    await store.inbox_add("m1", "sns", "{}", T0)
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT status FROM inbox WHERE message_id = 'm1'").fetchall() == [
            ("pending",)
        ]


async def test_naive_datetimes_are_taken_as_utc(store: SqliteStore) -> None:
    await store.inbox_add("m1", "sns", "{}", datetime(2026, 11, 20, 9, 0))
    item = await store.inbox_get("m1")
    assert item is not None and item.received_at == T0
