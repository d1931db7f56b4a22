"""What ``GET /healthz`` knows: whether the store takes a real write, and whether Slack still
accepts the bot token — checked for real, and cheaply enough to be asked every second.

- The store: ``Store.check_writable`` (a real write; on SQLite also "is the file at the path
  still the one we have open"), timed, with the inbox's failed count. The answer is kept for
  ``cache`` (about a second), so an orchestrator polling often costs one write a second, and
  concurrent requests share one check.
- Slack: ``auth.test`` at start (in the background: start-up never waits on Slack) and every
  ``auth_interval``. Slack refusing the token (``invalid_auth``, ``token_revoked``, ...) makes
  the bot degraded: a replaced process with a fixed secret is the cure. Slack unreachable or
  failing (5xx, timeouts) does not: no restart fixes Slack's outage, and the outbox keeps what
  must reach it. Until the first answer Slack is ``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.store.base import Store, StoreUnavailable
from bot.tasks import BackgroundLoop

log = logging.getLogger(__name__)

SlackState = Literal["ok", "refused", "unreachable", "unknown"]

# auth.test errors that say Slack is having trouble, not that the token is bad.
_SLACK_TROUBLE = frozenset(
    {"fatal_error", "internal_error", "ratelimited", "request_timeout", "service_unavailable"}
)


@dataclass(frozen=True)
class SlackAuth:
    state: SlackState
    error: str = ""  # Slack's error code, or the kind of connection failure


@dataclass(frozen=True)
class StoreCheck:
    problem: str  # "" when the write went through
    latency_ms: float
    inbox_failed: int | None  # messages given up on; None when it could not be counted

    @property
    def ok(self) -> bool:
        return not self.problem


async def slack_auth(client: AsyncWebClient) -> SlackAuth:
    """``auth.test`` with the bot token: is it still accepted? (The one Slack call here.)"""
    try:
        await client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error", "") or f"HTTP {exc.response.status_code}")
        if exc.response.status_code >= 500 or error in _SLACK_TROUBLE:
            return SlackAuth("unreachable", error)
        return SlackAuth("refused", error)
    except (SlackClientError, OSError, TimeoutError) as exc:  # aiohttp's errors are OSErrors
        return SlackAuth("unreachable", type(exc).__name__)
    return SlackAuth("ok")


class HealthMonitor:
    """The store and Slack checks behind ``/healthz``; ``start`` and ``stop`` with the app."""

    def __init__(
        self,
        store: Store,
        check_slack: Callable[[], Awaitable[SlackAuth]],
        *,
        cache: timedelta = timedelta(seconds=1),
        auth_interval: timedelta = timedelta(minutes=1),
        store_timeout: timedelta = timedelta(seconds=5),
    ) -> None:
        self._store = store
        self._check_slack = check_slack
        self._cache = cache.total_seconds()
        self._auth_interval = auth_interval.total_seconds()
        self._store_timeout = store_timeout.total_seconds()
        self._lock = asyncio.Lock()
        self._last: tuple[float, StoreCheck] | None = None
        self.slack = SlackAuth("unknown")
        self._watcher = BackgroundLoop("health-slack-auth")

    async def require_writable_store(self, patience: timedelta = timedelta(seconds=30)) -> None:
        """At start-up: raise ``StoreUnavailable`` unless the store takes a write.

        A store that refuses the write is refused at once; one that is only slow to answer (a
        loaded host, a restart recovering the write-ahead log of a killed process) is asked
        again until ``patience`` has passed, and only then is it ``TimeoutError``."""
        deadline = time.monotonic() + patience.total_seconds()
        while True:
            try:
                await asyncio.wait_for(self._store.check_writable(), self._store_timeout)
                return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                log.warning(
                    "the store did not take a write within %g s at start-up; asking again",
                    self._store_timeout,
                )

    def start(self) -> None:
        self._watcher.start(self._watch_slack)

    async def stop(self) -> None:
        await self._watcher.stop()

    async def store(self) -> StoreCheck:
        """The last store check if younger than ``cache``, else a new one."""
        async with self._lock:
            now = time.monotonic()
            if self._last is None or now - self._last[0] >= self._cache:
                self._last = (time.monotonic(), await self._check_store())
            return self._last[1]

    async def _check_store(self) -> StoreCheck:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self._store.check_writable(), self._store_timeout)
            problem = ""
        except StoreUnavailable as exc:
            problem = exc.user_message
        except TimeoutError:
            problem = f"the store did not take a write within {self._store_timeout:g} s"
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        if problem:
            log.warning("health: %s", problem)
        failed: int | None = None
        if not problem:
            with contextlib.suppress(StoreUnavailable, TimeoutError):
                failed = await asyncio.wait_for(
                    self._store.inbox_failed_count(), self._store_timeout
                )
        return StoreCheck(problem, latency_ms, failed)

    async def _watch_slack(self) -> None:
        while True:
            try:
                verdict = await self._check_slack()
            except Exception as exc:  # a bug here must not end the watch
                log.exception("health: the Slack auth check failed")
                verdict = SlackAuth("unknown", type(exc).__name__)
            if verdict != self.slack:
                log_at = logging.INFO if verdict.state == "ok" else logging.WARNING
                log.log(log_at, "health: Slack auth.test %s %s", verdict.state, verdict.error)
            self.slack = verdict
            await asyncio.sleep(self._auth_interval)
