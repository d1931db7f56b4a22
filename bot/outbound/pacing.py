"""How fast the sender may call Slack: posts per channel, edits from one workspace budget.

Slack allows about one message a second per channel (``chat.postMessage``, short bursts
tolerated), and ``chat.update`` is a Tier 3 method: about 50 a minute for the whole workspace,
shared by every message the app edits. ``TokenBucket`` is both: one per channel for posts, one
for the workspace's edits. Waiting for a token happens in order of arrival.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


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


class ChannelPacer:
    """A token bucket per channel: ``rate`` messages a second, bursts of ``burst``."""

    def __init__(
        self, rate: float = 1.0, burst: int = 4, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    async def wait(self, channel: str) -> None:
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = TokenBucket(self._rate, self._burst, self._clock)
        await bucket.take()
