"""How fast the sender may call Slack: posts per channel, edits from one workspace budget.

Slack allows about one message a second per channel (``chat.postMessage``, short bursts
tolerated), and ``chat.update`` is a Tier 3 method: about 50 a minute for the whole workspace,
shared by every message the app edits. ``TokenBucket`` is both: one per channel for posts, one
for the workspace's edits. Waiting for a token happens in order of arrival.

Those are Slack's limits for the app, not for one process: replicas sharing a store
(``dynamodb://``) draw from one bucket each through it instead (``FleetBucket``, on
``bot.rate_limits.FleetRateLimits``), or three of them would post and edit three times as fast.
Which edit goes out when the turn comes (the latest content of a message) stays the sender's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

SharedLimit = Callable[[str, float, int], Awaitable[None]]
"""``FleetRateLimits.acquire``: waits for a turn in the fleet's budget (name, rate, burst)."""


class Budget(Protocol):
    """What a call waits on before it goes out."""

    async def take(self) -> None: ...


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; ``take`` waits for one."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = asyncio.Lock()  # FIFO: whoever asked first gets the next token

    async def take(self) -> None:
        async with self._lock:
            self._refill()
            if self._tokens < 1.0:
                await asyncio.sleep((1.0 - self._tokens) / self._rate)
                self._refill()
            self._tokens = max(0.0, self._tokens - 1.0)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now


class FleetBucket:
    """The bucket ``name`` every replica sharing the store takes from: ``rate`` a second,
    bursts of ``burst``."""

    def __init__(self, shared: SharedLimit, name: str, rate: float, burst: int) -> None:
        self._shared = shared
        self._name = name
        self._rate = rate
        self._burst = burst

    async def take(self) -> None:
        await self._shared(self._name, self._rate, self._burst)


def workspace_edits(shared: SharedLimit, per_minute: float, burst: int) -> FleetBucket:
    """The workspace's ``chat.update`` budget, as the fleet shares it."""
    return FleetBucket(shared, "slack.chat.update", per_minute / 60.0, burst)


class ChannelPacer:
    """A token bucket per channel: ``rate`` messages a second, bursts of ``burst``; the
    fleet's (``slack.post:<channel>``) when ``shared``."""

    def __init__(
        self,
        rate: float = 1.0,
        burst: int = 4,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedLimit | None = None,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._shared = shared
        self._buckets: dict[str, Budget] = {}

    async def wait(self, channel: str) -> None:
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = self._bucket(channel)
        await bucket.take()

    def _bucket(self, channel: str) -> Budget:
        if self._shared is not None:
            return FleetBucket(self._shared, f"slack.post:{channel}", self._rate, self._burst)
        return TokenBucket(self._rate, self._burst, self._clock)
