"""What this process holds, as the operator view lists it (``bot.leases.HeldLeases``): a lease
taken with ``held_lease`` on a real SQLite store is listed while its holder works, renewed in the
list as in the store, and dropped once another replica took it over or the work ended."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from pathlib import Path

from bot.leases import HeldLeases, held_lease
from bot.store import SqliteStore
from tests.replicas.fleet import eventually
from tests.store.helpers import T0

TTL = timedelta(seconds=0.3)  # renewed every 0.1 s


async def test_a_held_lease_is_listed_renewed_and_dropped_when_taken_over(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    now = T0

    def clock() -> datetime:
        return now

    held = HeldLeases()
    try:
        async with held_lease(store, "incident-root:a/b/c@1", "me", TTL, clock, held) as ours:
            assert ours
            assert held.report(T0)["oldest"] == [
                {
                    "name": "incident-root:a/b/c@1",
                    "since": T0.isoformat(),
                    "until": (T0 + TTL).isoformat(),
                    "held_s": 0.0,
                }
            ]
            now = T0 + timedelta(seconds=1)  # the next renewal holds it until now + TTL
            renewed = (now + TTL).isoformat()
            await eventually(lambda: held.report(now)["oldest"][0]["until"] == renewed, 10)
            assert held.report(now)["oldest"][0]["held_s"] == 1.0

            # Another replica whose clock is well past our last renewal takes the lease over;
            # our next renewal finds it taken, and it leaves the list while our work goes on.
            assert await store.lease_acquire("incident-root:a/b/c@1", "other", TTL, now + TTL * 4)
            await eventually(lambda: held.counts() == {"incident-root": 0}, 10)
            assert held.report(now)["oldest"] == []
        assert not await store.lease_acquire("incident-root:a/b/c@1", "me", TTL, now)  # theirs

        async with held_lease(store, "run-recovery:r1", "me", TTL, clock, held) as ours:
            assert ours
            assert held.counts() == {"incident-root": 0, "run-recovery": 1}
        assert held.counts() == {"incident-root": 0, "run-recovery": 0}
    finally:
        await store.close()


async def test_a_lease_someone_else_holds_is_not_listed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    held = HeldLeases()
    try:
        assert await store.lease_acquire("incident-storm:route", "other", TTL * 100, T0)
        async with held_lease(store, "incident-storm:route", "me", TTL, lambda: T0, held) as ours:
            assert not ours
            assert held.counts() == {}
    finally:
        await store.close()


def test_healthz_lists_only_the_oldest_few_and_counts_them_all() -> None:
    held = HeldLeases()
    five_minutes = T0 + timedelta(minutes=5)
    with held.holding("inbox-claim:m-new", T0 + timedelta(seconds=9), five_minutes):
        with contextlib.ExitStack() as claims:
            claims.enter_context(held.holding("digest:2026-11-20", T0, five_minutes))
            for i in range(1, 8):
                claims.enter_context(
                    held.holding(f"inbox-claim:m{i}", T0 + timedelta(seconds=i), five_minutes)
                )
            report = held.report(T0 + timedelta(seconds=10))
            assert report["held"] == {"digest": 1, "inbox-claim": 8}
            assert [lease["name"] for lease in report["oldest"]] == [
                "digest:2026-11-20",
                "inbox-claim:m1",
                "inbox-claim:m2",
                "inbox-claim:m3",
                "inbox-claim:m4",
            ]
            assert report["oldest"][0]["held_s"] == 10.0
        assert held.counts() == {"digest": 0, "inbox-claim": 1}
        assert [lease["name"] for lease in held.report(T0)["oldest"]] == ["inbox-claim:m-new"]
