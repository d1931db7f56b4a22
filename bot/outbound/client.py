"""The Slack Web API client: retries for 429, 5xx and connection errors, and per-channel pacing.

Slack allows about one message per second per channel (short bursts are tolerated); the
``ChannelPacer`` keeps posts and updates inside that, so an alarm storm queues instead of
earning 429s.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import timedelta

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.timings import DEFAULTS


class _ScaledJitter(Jitter):
    """Up to ``scale`` seconds of random jitter (slack_sdk's own adds up to a whole second)."""

    def __init__(self, scale: float) -> None:
        self._scale = scale

    def recalculate(self, duration: float) -> float:
        return duration + random.random() * self._scale


def make_web_client(
    settings: Settings,
    *,
    timeout: timedelta = DEFAULTS.slack_timeout,
    backoff: timedelta = DEFAULTS.slack_backoff,
) -> AsyncWebClient:
    """An AsyncWebClient for ``SLACK_API_URL`` with the bot token and retry handlers.

    A 429 waits for Slack's ``Retry-After``; a 5xx or a dropped connection waits ``backoff``,
    then twice that, plus up to twice ``backoff`` of jitter."""
    token = settings.secrets.slack_bot_token
    base = backoff.total_seconds()
    interval = BackoffRetryIntervalCalculator(backoff_factor=base, jitter=_ScaledJitter(2 * base))
    return AsyncWebClient(
        token=token.get_secret_value() if token else None,
        base_url=settings.slack_api_url,
        timeout=max(1, round(timeout.total_seconds())),
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
            AsyncConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
        ],
    )


class ChannelPacer:
    """A token bucket per channel: ``rate`` messages a second, bursts of ``burst``."""

    def __init__(
        self, rate: float = 1.0, burst: int = 4, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, updated)
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, channel: str) -> None:
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            now = self._clock()
            tokens, updated = self._buckets.get(channel, (self._burst, now))
            tokens = min(self._burst, tokens + (now - updated) * self._rate)
            if tokens < 1.0:
                delay = (1.0 - tokens) / self._rate
                await asyncio.sleep(delay)
                now = self._clock()
                tokens = 1.0
            self._buckets[channel] = (tokens - 1.0, now)
