"""Rate limits for the fleet, not the process: one budget shared through the store.

Some AWS APIs have a hard limit per account and region (CloudTrail LookupEvents: 2 requests a
second). ``AwsClients`` spaces its own calls to it, but three replicas doing so make 6 a second
and throttle one another. ``FleetRateLimits`` spaces the calls of every replica sharing one
store instead: the store keeps, per API, account and region, the time of the next free slot;
a call reserves the next slot with a compare-and-set (``Store.schedule_cas``) and waits until
it comes. This is a GCRA whose state is a single item: a token bucket of ``burst`` (one, for
AWS), the item the time at which the bucket is full again.

Slack's limits are the same kind (``bot.outbound.pacing``): about one post a second per
channel, and ``chat.update`` at about 50 a minute for the whole workspace. When the store is
shared, the sender's buckets for those are budgets here too (``slack.post:<channel>``,
``slack.chat.update``): three replicas editing at once share the workspace's 50 a minute.

Why a shared budget rather than ``rate / replicas`` each: the fleet's size changes (a deploy,
a crashed task) and is not in any one process's config, and an even split wastes the budget:
one replica running ``recent-changes`` alone would get a third of it. The price is a read and a
conditional write per limited call (a few milliseconds against DynamoDB), and it is only paid
for the few APIs with such limits. Within one process, calls for one budget take their turn
behind a lock, so they never race each other for a slot. If the store cannot be reached, the
process falls back to spacing its own calls (at the full rate) rather than stop calling AWS.

Slots are wall-clock times, so replicas must have clocks in step (NTP keeps them within
milliseconds; a replica whose clock is ahead reserves slots later, never earlier, than due).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.store.base import Store

log = logging.getLogger(__name__)

PREFIX = "rate:"
_CAS_ATTEMPTS = 20


class FleetRateLimits:
    """``await limits.acquire(budget, rate, burst)`` returns when this call's turn in the fleet
    has come; ``budget`` names the API (and for AWS the account and region:
    ``cloudtrail.lookup_events:…``). ``rate`` calls a second, up to ``burst`` at once."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._local_next: dict[str, float] = {}  # the fallback when the store is unreachable

    async def acquire(self, budget: str, rate: float, burst: int = 1) -> None:
        interval = 1.0 / rate
        lock = self._locks.setdefault(budget, asyncio.Lock())
        async with lock:
            try:
                full = await self._reserve(budget, interval)
            except Exception:
                log.warning(
                    "shared rate limit %s unavailable; spacing this process's calls", budget
                )
                full = self._reserve_locally(budget, interval)
            wait = full - burst * interval - self._clock()  # the bucket has a token by then
            if wait > 0:
                await asyncio.sleep(wait)  # holding the lock: the next local call's slot is later

    async def _reserve(self, budget: str, interval: float) -> float:
        """Take a token from the fleet's bucket: when the bucket is full again (epoch s)."""
        name = PREFIX + budget
        for attempt in range(_CAS_ATTEMPTS):
            raw = await self._store.schedule_get(name)
            full = max(self._clock(), _parse(raw)) + interval
            if await self._store.schedule_cas(name, raw, f"{full:.6f}"):
                return full
            await asyncio.sleep(0.005 * (attempt + 1))  # another replica took it: read again
        raise TimeoutError(f"{name} kept changing")

    def _reserve_locally(self, budget: str, interval: float) -> float:
        full = max(self._clock(), self._local_next.get(budget, 0.0)) + interval
        self._local_next[budget] = full
        return full


def _parse(raw: str | None) -> float:
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        return 0.0
