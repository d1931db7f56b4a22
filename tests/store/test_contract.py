"""What every store promises (``bot/store/base.py``), checked on SQLite and on DynamoDB (moto).

``other`` is a second store on the same file or table, as a second process or replica has.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.store import SqliteStore, Store
from tests.store.helpers import T0, delivery, dynamodb_store, incident, run


@pytest.fixture(params=["sqlite", "dynamodb"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Opens another store on one shared file or table."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "triagebot.db")
    request.getfixturevalue("atomic_dynamodb")
    session = request.getfixturevalue("session")  # moto, in-process
    return lambda: dynamodb_store(session)


@pytest.fixture
async def store(opener: Callable[[], Store]) -> AsyncIterator[Store]:
    s = opener()
    await s.start()
    yield s
    await s.close()


@pytest.fixture
async def other(opener: Callable[[], Store], store: Store) -> AsyncIterator[Store]:
    s = opener()
    await s.start()
    yield s
    await s.close()


# --- runs ------------------------------------------------------------------------------------


async def test_a_run_round_trips_and_finishes(store: Store) -> None:
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


async def test_finishing_an_unknown_run_says_so(store: Store) -> None:
    assert not await store.finish_run("nope", T0, "ok", {})
    assert await store.get_run("nope") is None


async def test_record_run_replaces_the_same_run_id(store: Store) -> None:
    await store.record_run(run("r1"))
    await store.record_run(run("r1", message_ts="1700000000.000200"))
    got = await store.get_run("r1")
    assert got is not None and got.message_ts == "1700000000.000200"


async def test_recent_runs_are_per_channel_newest_first_and_limited(store: Store) -> None:
    for i in range(6):
        await store.record_run(run(f"c1-{i}", "C1", minutes=i))
    await store.record_run(run("c2-0", "C2", minutes=10))

    recent = await store.recent_runs("C1", 3)
    assert [r.run_id for r in recent] == ["c1-5", "c1-4", "c1-3"]
    assert [r.run_id for r in await store.recent_runs("C2", 10)] == ["c2-0"]
    assert await store.recent_runs("C3", 10) == []


async def test_a_runs_full_output_is_kept_and_replaced(store: Store) -> None:
    assert await store.run_output("r1") is None
    text = "alb-errors\n" + "target i-0abc unhealthy: Target.Timeout\n" * 2000
    await store.save_output("r1", text)
    assert await store.run_output("r1") == text
    await store.save_output("r1", "shorter")
    assert await store.run_output("r1") == "shorter"


def test_records_refuse_unknown_sources() -> None:
    with pytest.raises(ValueError, match="source must be one of"):
        run("r1", source="email")


# --- inbox -----------------------------------------------------------------------------------


async def test_inbox_add_dedupes_by_message_id(store: Store) -> None:
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


async def test_finishing_an_unknown_message_records_nothing(store: Store) -> None:
    await store.inbox_done("nope")
    await store.inbox_failed("nope2", "boom")
    assert await store.inbox_get("nope") is None
    assert await store.inbox_get("nope2") is None
    assert await store.inbox_unfinished(T0) == []


async def test_twenty_concurrent_adds_of_one_message_record_it_once(store: Store) -> None:
    results = await asyncio.gather(*(store.inbox_add("m1", "sns", "{}", T0) for _ in range(20)))
    assert results.count(True) == 1


async def test_two_stores_on_one_file_add_a_message_once(store: Store, other: Store) -> None:
    adds = [s.inbox_add(f"m{i}", "sns", "{}", T0) for i in range(30) for s in (store, other)]
    results = await asyncio.gather(*adds)
    assert results.count(True) == 30


async def test_only_one_claimant_until_the_lease_expires(store: Store) -> None:
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


async def test_two_stores_racing_for_a_claim_have_one_winner(store: Store, other: Store) -> None:
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


async def test_done_and_failed_messages_are_not_claimed_again(store: Store) -> None:
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
    store: Store,
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
    backlog = await store.inbox_unfinished()  # every message not finished, claimed or not
    assert [i.message_id for i in backlog] == ["old", "held", "stale", "new"]


# --- outbox ----------------------------------------------------------------------------------


async def test_a_delivery_is_recorded_once_and_round_trips(store: Store) -> None:
    d = delivery(thread_ts="1700000000.000100", after="root:k@0")
    assert await store.outbox_add(d)
    assert not await store.outbox_add(replace(d, payload="{}"))
    assert await store.outbox_get(d.delivery_id) == d
    assert await store.outbox_get("nope") is None


async def test_only_one_sender_claims_a_delivery_until_its_lease_expires(
    store: Store, other: Store
) -> None:
    await store.outbox_add(delivery("d1"))
    lease = timedelta(minutes=1)
    claims = [s.outbox_claim("d1", name, lease, T0) for s, name in ((store, "a"), (other, "b"))]
    assert (await asyncio.gather(*claims)).count(True) == 1
    assert not await store.outbox_claim("d1", "c", lease, T0 + timedelta(seconds=59))
    assert await other.outbox_claim("d1", "c", lease, T0 + timedelta(minutes=1))
    got = await store.outbox_get("d1")
    assert got is not None
    assert (got.owner, got.attempts, got.lease_until) == ("c", 2, T0 + timedelta(minutes=2))


async def test_a_delivery_retried_later_is_not_due_before_then(store: Store) -> None:
    await store.outbox_add(delivery("d1"))
    assert await store.outbox_claim("d1", "a", timedelta(minutes=5), T0)
    await store.outbox_retry("d1", T0 + timedelta(minutes=2), "service_unavailable")
    assert not await store.outbox_claim("d1", "b", timedelta(minutes=5), T0 + timedelta(minutes=1))
    assert await store.outbox_due(T0 + timedelta(minutes=1), 10) == []
    [due] = await store.outbox_due(T0 + timedelta(minutes=2), 10)
    assert (due.delivery_id, due.error, due.lease_until) == ("d1", "service_unavailable", None)
    assert await store.outbox_claim("d1", "b", timedelta(minutes=5), T0 + timedelta(minutes=2))
    claimed = await store.outbox_get("d1")
    assert claimed is not None and claimed.error == ""  # a try is under way


async def test_the_backlog_counts_every_pending_delivery_and_the_oldest(store: Store) -> None:
    assert await store.outbox_backlog() == (0, None)
    await store.outbox_add(delivery("newer", created_at=T0 + timedelta(minutes=3)))
    await store.outbox_add(delivery("future", 60, created_at=T0 + timedelta(minutes=1)))
    for name in ("held", "sent", "dropped"):
        await store.outbox_add(delivery(name))
        assert await store.outbox_claim(name, "a", timedelta(minutes=30), T0)
    await store.outbox_sent("sent", "1700000000.000200", T0 + timedelta(seconds=1))
    await store.outbox_drop("dropped", "channel_not_found")

    # Claimed or not, due or not: what still has to reach Slack. Sent and dropped do not.
    assert await store.outbox_backlog() == (3, T0)


async def test_due_lists_pending_unclaimed_deliveries_longest_due_first(store: Store) -> None:
    for name, minutes in (("later", 3), ("first", 0), ("second", 1), ("future", 60)):
        await store.outbox_add(delivery(name, minutes))
    for name in ("held", "sent", "dropped"):
        await store.outbox_add(delivery(name))
        assert await store.outbox_claim(name, "a", timedelta(minutes=30), T0)
    await store.outbox_sent("sent", "1700000000.000200", T0 + timedelta(seconds=1))
    await store.outbox_drop("dropped", "channel_not_found")

    now = T0 + timedelta(minutes=5)
    assert [d.delivery_id for d in await store.outbox_due(now, 10)] == [
        "first",
        "second",
        "later",
    ]
    assert [d.delivery_id for d in await store.outbox_due(now, 2)] == ["first", "second"]
    sent = await store.outbox_get("sent")
    dropped = await store.outbox_get("dropped")
    assert sent is not None and dropped is not None
    assert (sent.state, sent.ts, sent.sent_at) == (
        "sent",
        "1700000000.000200",
        T0 + timedelta(seconds=1),
    )
    assert (dropped.state, dropped.error) == ("dropped", "channel_not_found")
    later = T0 + timedelta(hours=1)
    assert not await store.outbox_claim("sent", "b", timedelta(minutes=1), later)
    assert not await store.outbox_claim("dropped", "b", timedelta(minutes=1), later)


# --- incidents -------------------------------------------------------------------------------


async def test_an_incident_round_trips(store: Store) -> None:
    inc = incident(
        root_ts="1700000000.000100",
        muted_until=T0 + timedelta(hours=1),
        note="Rolled back web-release-4711 & it recovered <3",
        note_by="U0ONCALL",
    )
    assert await store.incident_create(inc)
    assert await store.incident_get(inc.key) == inc
    assert await store.incident_find_by_root("C1", "1700000000.000100") == inc
    assert await store.incident_find_by_root("C2", "1700000000.000100") is None
    assert await store.incident_get("other") is None


async def test_only_one_open_incident_per_key(store: Store, other: Store) -> None:
    first = incident()
    results = await asyncio.gather(
        store.incident_create(first),
        other.incident_create(replace(first, opened_at=T0 + timedelta(seconds=1))),
        store.incident_create(replace(first, opened_at=T0 + timedelta(seconds=2))),
    )
    assert results.count(True) == 1


async def test_a_new_incident_may_open_once_the_last_is_resolved(store: Store) -> None:
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


async def test_incident_get_prefers_the_open_incident_else_the_latest(store: Store) -> None:
    key = incident().key
    hour = timedelta(hours=1)
    early = incident(opened_at=T0)
    late = incident(opened_at=T0 + 2 * hour)
    for inc in (early, late):
        assert await store.incident_create(inc)
        assert await store.incident_update(replace(inc, resolved_at=inc.opened_at), 0)
    latest = await store.incident_get(key)
    assert latest is not None and latest.opened_at == T0 + 2 * hour and not latest.is_open

    # opened between the two, but open: that is the one
    middle = incident(opened_at=T0 + hour, root_ts="1700000000.000300")
    assert await store.incident_create(middle)
    assert await store.incident_get(key) == middle


async def test_updating_an_unknown_incident_says_so(store: Store) -> None:
    assert not await store.incident_update(incident(), expected_version=0)
    assert await store.incident_get(incident().key) is None


async def test_incident_update_is_compare_and_set_on_version(store: Store, other: Store) -> None:
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


async def test_racing_updates_from_two_stores_have_one_winner(store: Store, other: Store) -> None:
    inc = incident()
    await store.incident_create(inc)
    results = await asyncio.gather(
        *(
            s.incident_update(replace(inc, acknowledged_by=f"U{i}"), expected_version=0)
            for i, s in enumerate([store, other] * 5)
        )
    )
    assert results.count(True) == 1


async def test_incidents_of_a_route_are_its_own_newest_first_within_the_window(
    store: Store,
) -> None:
    for i in range(4):
        await store.incident_create(incident(f"k{i}", opened_at=T0 + timedelta(seconds=30 * i)))
    await store.incident_create(incident("other-route", route="rds", opened_at=T0))

    found = await store.incidents_of_route("alb", T0 + timedelta(seconds=31), limit=10)
    assert [inc.key for inc in found] == ["k3", "k2"]
    newest = await store.incidents_of_route("alb", T0, limit=3)
    assert [inc.key for inc in newest] == ["k3", "k2", "k1"]
    assert [inc.key for inc in await store.incidents_of_route("rds", T0, 10)] == ["other-route"]
    assert await store.incidents_of_route("lambda", T0, 10) == []


async def test_incidents_of_a_key_are_its_own_newest_first_within_the_window(
    store: Store,
) -> None:
    hour = timedelta(hours=1)
    for i in range(4):  # resolved one after the other, the last still open
        opened = T0 + i * hour
        resolved = opened + timedelta(minutes=5) if i < 3 else None
        await store.incident_create(incident("k", opened_at=opened, resolved_at=resolved))
    await store.incident_create(incident("k-other", opened_at=T0 + hour))

    found = await store.incidents_of("k", T0 + hour, 10)

    assert [i.opened_at for i in found] == [T0 + 3 * hour, T0 + 2 * hour, T0 + hour]
    assert found[0].is_open and found[1].resolved_at == T0 + 2 * hour + timedelta(minutes=5)
    assert [i.opened_at for i in await store.incidents_of("k", T0, 2)] == [
        T0 + 3 * hour,
        T0 + 2 * hour,
    ]
    assert await store.incidents_of("nothing", T0, 10) == []


# --- leases, schedule, claims ----------------------------------------------------------------


async def test_a_lease_is_held_until_it_expires_or_is_released(store: Store) -> None:
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


async def test_two_stores_racing_for_a_lease_have_one_winner(store: Store, other: Store) -> None:
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


async def test_schedule_state_is_set_and_overwritten(store: Store) -> None:
    assert await store.schedule_get("digest") is None
    await store.schedule_set("digest", "2026-11-19")
    await store.schedule_set("digest", "2026-11-20")
    assert await store.schedule_get("digest") == "2026-11-20"


async def test_claim_once_is_once_ever(store: Store, other: Store) -> None:
    results = await asyncio.gather(
        *(
            s.claim_once("digest:2026-11-20", s_name, T0)
            for s, s_name in [(store, "a"), (other, "b")] * 5
        )
    )
    assert results.count(True) == 1
    assert not await store.claim_once("digest:2026-11-20", "a", T0 + timedelta(days=30))
    assert await store.claim_once("digest:2026-11-21", "a", T0 + timedelta(days=1))


async def test_healthy_until_closed(store: Store, other: Store) -> None:
    assert await other.healthy()
    await other.close()
    assert not await other.healthy()
    assert await store.healthy()


async def test_naive_datetimes_are_taken_as_utc(store: Store) -> None:
    await store.inbox_add("m1", "sns", "{}", datetime(2026, 11, 20, 9, 0))
    item = await store.inbox_get("m1")
    assert item is not None and item.received_at == T0


async def test_schedule_cas_writes_only_over_the_expected_value(store: Store) -> None:
    assert await store.schedule_cas("incident-last:k", None, "2026-11-20T09:00:00+00:00")
    assert await store.schedule_get("incident-last:k") == "2026-11-20T09:00:00+00:00"
    # "only if absent" fails once there is a value
    assert not await store.schedule_cas("incident-last:k", None, "2026-11-20T08:00:00+00:00")
    # the wrong expected value writes nothing
    assert not await store.schedule_cas("incident-last:k", "stale", "2026-11-20T10:00:00+00:00")
    assert await store.schedule_get("incident-last:k") == "2026-11-20T09:00:00+00:00"
    # the right one writes
    assert await store.schedule_cas(
        "incident-last:k", "2026-11-20T09:00:00+00:00", "2026-11-20T10:00:00+00:00"
    )
    assert await store.schedule_get("incident-last:k") == "2026-11-20T10:00:00+00:00"


async def test_schedule_cas_works_over_a_plain_set(store: Store) -> None:
    assert not await store.schedule_cas("storm", "x", "y")
    assert await store.schedule_get("storm") is None
    await store.schedule_set("storm", "x")
    assert await store.schedule_cas("storm", "x", "y")
    await store.schedule_set("storm", "z")
    assert await store.schedule_get("storm") == "z"
    assert not await store.schedule_cas("storm", "y", "w")
    assert await store.schedule_get("storm") == "z"


async def test_twenty_concurrent_cas_from_one_value_have_one_winner(store: Store) -> None:
    await store.schedule_set("storm", "v0")
    results = await asyncio.gather(
        *(store.schedule_cas("storm", "v0", f"v{i}") for i in range(1, 21))
    )
    assert results.count(True) == 1
    winner = results.index(True) + 1
    assert await store.schedule_get("storm") == f"v{winner}"

    absent = await asyncio.gather(*(store.schedule_cas("new", None, f"n{i}") for i in range(20)))
    assert absent.count(True) == 1
    assert await store.schedule_get("new") == f"n{absent.index(True)}"


async def test_two_stores_racing_a_cas_have_one_winner(store: Store, other: Store) -> None:
    for n in range(10):
        await store.schedule_set(f"job{n}", "old")
    results = await asyncio.gather(
        *(
            s.schedule_cas(f"job{n}", "old", name)
            for n in range(10)
            for s, name in ((store, "a"), (other, "b"), (store, "c"), (other, "d"))
        )
    )
    for n in range(10):
        won = results[4 * n : 4 * n + 4]
        assert won.count(True) == 1, f"job{n}"
        assert await other.schedule_get(f"job{n}") == "abcd"[won.index(True)]
    firsts = await asyncio.gather(
        *(s.schedule_cas("fresh", None, name) for s, name in ((store, "a"), (other, "b")) * 3)
    )
    assert firsts.count(True) == 1


# --- durability ------------------------------------------------------------------------------


async def test_everything_survives_close_and_reopen(opener: Callable[[], Store]) -> None:
    s = opener()
    await s.start()
    await s.record_run(run("r1"))
    await s.inbox_add("m1", "sns", "{}", T0)
    await s.incident_create(incident())
    await s.schedule_set("digest", "2026-11-20")
    await s.claim_once("digest:2026-11-20", "a", T0)
    await s.lease_acquire("digest", "a", timedelta(minutes=5), T0)
    await s.outbox_add(delivery("d1"))
    await s.close()
    with pytest.raises(RuntimeError, match="closed"):
        await s.get_run("r1")

    again = opener()
    await again.start()
    try:
        assert await again.get_run("r1") == run("r1")
        assert not await again.inbox_add("m1", "sns", "{}", T0)
        assert await again.incident_get(incident().key) == incident()
        assert await again.schedule_get("digest") == "2026-11-20"
        assert not await again.claim_once("digest:2026-11-20", "b", T0)
        assert not await again.lease_acquire("digest", "b", timedelta(minutes=5), T0)
        assert await again.outbox_get("d1") == delivery("d1")
    finally:
        await again.close()
