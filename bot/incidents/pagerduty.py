"""The PagerDuty Events API v2 (``POST /v2/enqueue``): ``trigger``, ``acknowledge`` and
``resolve`` for one dedup key, over aiohttp.

Each request is bounded (``timeout``); a 429 waits for its ``Retry-After`` (at most
``MAX_RETRY_AFTER``), a 5xx, a timeout or a dropped connection waits ``backoff``, then twice
that, ... plus up to one ``backoff`` of jitter, for ``attempts`` tries in all. A 4xx other than
429 (a bad routing key, a malformed event) is permanent at once. The routing key is a
``SecretStr`` until it goes in the body, and is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import aiohttp
from pydantic import SecretStr

log = logging.getLogger(__name__)

Action = Literal["trigger", "acknowledge", "resolve"]
MAX_RETRY_AFTER = timedelta(minutes=1)  # a longer Retry-After waits this long


@dataclass(frozen=True)
class Answer:
    """What PagerDuty said in the end: accepted (202), or why not."""

    ok: bool
    status: int  # the last HTTP status; 0 when no answer came (timeout, connection)
    message: str  # PagerDuty's ``message`` and ``errors``, or what went wrong
    attempts: int


@dataclass(frozen=True)
class Event:
    """One event for a dedup key; ``summary``, ``source`` and ``link`` go with a trigger."""

    action: Action
    dedup_key: str
    summary: str = ""
    source: str = ""
    link: str = ""

    def body(self, routing_key: SecretStr) -> dict[str, Any]:
        body: dict[str, Any] = {
            "routing_key": routing_key.get_secret_value(),
            "event_action": self.action,
            "dedup_key": self.dedup_key,
        }
        if self.action == "trigger":
            body["payload"] = {
                "summary": self.summary[:1024],  # the Events API's limit
                "source": self.source or "triagebot",
                "severity": "critical",
            }
            if self.link:
                body["links"] = [{"href": self.link, "text": "Slack thread"}]
        return body


class EventsApi:
    """Sends events to one Events API endpoint with one routing key."""

    def __init__(
        self,
        url: str,
        routing_key: SecretStr,
        *,
        timeout: timedelta,
        backoff: timedelta,
        attempts: int,
    ) -> None:
        self._url = url
        self._key = routing_key
        self._timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        self._backoff = backoff.total_seconds()
        self._attempts = max(1, attempts)

    async def send(self, event: Event) -> Answer:
        """Send ``event`` until PagerDuty takes it, refuses it, or the attempts run out."""
        answer = Answer(ok=False, status=0, message="not sent", attempts=0)
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            for attempt in range(1, self._attempts + 1):
                answer, wait = await self._once(session, event, attempt)
                if wait is None or attempt == self._attempts:
                    break
                log.info(
                    "PagerDuty %s of %s: %s; trying again in %.1f s",
                    event.action,
                    event.dedup_key,
                    answer.message,
                    wait,
                )
                await asyncio.sleep(wait)
        return answer

    async def _once(
        self, session: aiohttp.ClientSession, event: Event, attempt: int
    ) -> tuple[Answer, float | None]:
        """One request: the answer, and how long to wait before the next (None: no next)."""
        backoff = self._backoff * 2 ** (attempt - 1) + random.uniform(0, self._backoff)
        try:
            async with session.post(self._url, json=event.body(self._key)) as response:
                said = await _said(response)
                answer = Answer(response.status < 300, response.status, said, attempt)
                if response.status == 429:
                    return answer, _retry_after(response.headers, backoff)
                return answer, backoff if response.status >= 500 else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            what = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
            return Answer(False, 0, what, attempt), backoff


async def _said(response: aiohttp.ClientResponse) -> str:
    """PagerDuty's ``message`` (and ``errors``) from a JSON answer, else the HTTP reason."""
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        data = None
    if not isinstance(data, dict):
        return f"HTTP {response.status} {response.reason or ''}".strip()
    errors = data.get("errors")
    said = str(data.get("message", "")) or f"HTTP {response.status}"
    if isinstance(errors, list) and errors:
        said += ": " + "; ".join(str(e) for e in errors)
    return said


def _retry_after(headers: Mapping[str, str], otherwise: float) -> float:
    """``Retry-After`` in seconds (capped at ``MAX_RETRY_AFTER``), else ``otherwise``."""
    try:
        seconds = float(headers.get("Retry-After", ""))
    except ValueError:
        return otherwise
    return min(max(seconds, 0.0), MAX_RETRY_AFTER.total_seconds())
