"""A store lease held for as long as the work under it takes, and no longer than a lease after
its holder dies.

``[store] lease`` says how long a dead replica's work stays claimed. Work under a lease can
take longer than that while its holder is alive (an incident's root waits its turn among posts
paced per channel; a storm's new message likewise), and a lease that ran out under a live
holder lets a second replica do the same work: a second root, a second storm reply. So a held
lease is renewed every third of its length until the work ends, and released then; a holder
that dies stops renewing, and the lease is free one lease later.

What this process holds now is kept in ``HeldLeases`` for the operator view (``/healthz``'s
``leases``, ``/metrics``' ``triagebot_leases_held``): ``held_lease`` registers each lease for as
long as it holds it, and holders of other kinds (an inbox claim, a digest attempt) register
theirs with ``HeldLeases.holding``. A lease's kind is its name up to the first colon
(``incident-root``, ``incident-storm``, ``run-recovery``, ``inbox-claim``, ``digest``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.store.base import Store

log = logging.getLogger(__name__)

OLDEST_SHOWN = 5
"""How many of the held leases ``/healthz`` lists (the oldest); the rest only count."""


@dataclass(frozen=True)
class HeldLease:
    name: str
    since: datetime  # when this process took it
    until: datetime  # when it runs out unless renewed

    @property
    def kind(self) -> str:
        return self.name.partition(":")[0]


class HeldLeases:
    """The leases (and claims) this process holds now, registered by their holders."""

    def __init__(self) -> None:
        self._held: dict[int, HeldLease] = {}
        self._keys = itertools.count()
        self._kinds: set[str] = set()  # every kind held since start: its count shows 0 after

    @contextlib.contextmanager
    def holding(self, name: str, since: datetime, until: datetime) -> Iterator[int]:
        """``name`` is held while the body runs; yields the key ``renewed`` takes."""
        key = next(self._keys)
        self._held[key] = held = HeldLease(name, since, until)
        self._kinds.add(held.kind)
        try:
            yield key
        finally:
            self._held.pop(key, None)

    def renewed(self, key: int, until: datetime | None) -> None:
        """Held on until ``until``; None: not ours any more (another process took it over),
        though the holder's work goes on."""
        if until is None:
            self._held.pop(key, None)
        elif (held := self._held.get(key)) is not None:
            self._held[key] = replace(held, until=until)

    def counts(self) -> dict[str, int]:
        """How many of each kind are held now (0 for a kind held before and not now)."""
        counts = dict.fromkeys(sorted(self._kinds), 0)
        for held in self._held.values():
            counts[held.kind] += 1
        return counts

    def report(self, now: datetime) -> dict[str, Any]:
        """The ``/healthz`` fields: the count of each kind, and the oldest few leases."""
        oldest = sorted(self._held.values(), key=lambda held: held.since)[:OLDEST_SHOWN]
        return {
            "held": self.counts(),
            "oldest": [
                {
                    "name": held.name,
                    "since": held.since.isoformat(),
                    "until": held.until.isoformat(),
                    "held_s": round(max(0.0, (now - held.since).total_seconds()), 3),
                }
                for held in oldest
            ],
        }


@contextlib.asynccontextmanager
async def held_lease(
    store: Store,
    name: str,
    owner: str,
    ttl: timedelta,
    clock: Callable[[], datetime],
    held: HeldLeases,
) -> AsyncIterator[bool]:
    """Try to take ``name``; yields whether it is ours. While the body runs it stays ours
    (renewed every ``ttl / 3``) and is listed in ``held``; when the body ends it is released."""
    since = clock()
    if not await store.lease_acquire(name, owner, ttl, since):
        yield False
        return
    with held.holding(name, since, since + ttl) as key:
        renewing = asyncio.create_task(
            _renew(store, name, owner, ttl, clock, lambda until: held.renewed(key, until)),
            name=f"lease-{name}",
        )
        try:
            yield True
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await store.lease_release(name, owner)


async def _renew(
    store: Store,
    name: str,
    owner: str,
    ttl: timedelta,
    clock: Callable[[], datetime],
    renewed: Callable[[datetime | None], None],
) -> None:
    while True:
        await asyncio.sleep(ttl.total_seconds() / 3)
        try:
            now = clock()
            if not await store.lease_acquire(name, owner, ttl, now):
                log.warning("lease %s ran out under %s and was taken over", name, owner)
                renewed(None)
                return
            renewed(now + ttl)
        except Exception:  # the store may be briefly unavailable: the next renewal tries again
            log.warning("could not renew lease %s", name, exc_info=True)
