"""The Slack Web API client: the bot token, ``SLACK_API_URL``, and retries for 429, 5xx and
connection errors. Only ``bot.outbound.sender`` calls methods on it; pacing is
``bot.outbound.pacing``'s."""

from __future__ import annotations

import random
from datetime import timedelta

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.timings import DEFAULTS


class _ScaledJitter(Jitter):
    """Up to ``scale`` seconds of random jitter (slack_sdk's own adds up to a whole second)."""

    def __init__(self, scale: float) -> None:
        self._scale = scale

    def recalculate(self, duration: float) -> float:
        return duration + random.random() * self._scale


class _ConnectionRetry(AsyncConnectionErrorRetryHandler):
    """A dropped connection is tried again, except for a post: Slack may have taken it, and
    the sender looks it up in the channel before posting it again."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.endswith("/chat.postMessage"):
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


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
            _ConnectionRetry(max_retry_count=2, interval_calculator=interval),
        ],
    )
