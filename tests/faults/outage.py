"""What the fault tests share: a clock a test moves forward (a two-hour outage without the
two-hour wait), the whole app on it with short outbox timings, and ways to wait on what Slack
and the store show."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.demo.slack_api import SlackMessage
from bot.store.base import Delivery
from bot.timings import Timings
from tests.alarms.signing import alarm_message, notification, signer
from tests.alarms.sns_harness import CHANNEL, SnsHarness, start_harness

TIMINGS = Timings(
    slack_timeout=timedelta(seconds=1),
    slack_backoff=timedelta(seconds=0.02),
    outbox_poll=timedelta(seconds=0.05),
    outbox_backoff=timedelta(seconds=0.05),
    outbox_max_backoff=timedelta(seconds=0.2),
    inbox_sweep=timedelta(seconds=0.2),
    lease=timedelta(seconds=5),
)


class ShiftedClock:
    """The real time, plus however far the test has moved it on."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


async def outage_harness(
    tmp_path: Path, moto_url: str, clock: ShiftedClock, timings: Timings = TIMINGS
) -> AsyncIterator[SnsHarness]:
    async for h in start_harness(tmp_path, moto_url, timings=timings, clock=clock):
        yield h


async def send_alarm(
    h: SnsHarness, clock: ShiftedClock, message_id: str, state: str = "ALARM", minute: int = 0
) -> None:
    """An alarm of prod-api-5xx through ``POST /sns``, signed and sent at the test's time."""
    changed = f"2024-05-01T12:{minute:02d}:00.000+0000"
    message = alarm_message(state=state, changed_at=changed)
    envelope = notification(message, message_id=message_id, sent_at=clock())
    status, text = await h.post(signer().body(envelope))
    assert status == 200, text


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    """Wait until ``check()``; polls every 0.05 s, fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


async def root_delivery(h: SnsHarness) -> Delivery | None:
    """The outbox row of the prod-api-5xx incident's root, once the incident is open."""
    incident = await h.app.store.incident_get("123456789012/us-east-1/prod-api-5xx")
    if incident is None:
        return None
    return await h.app.store.outbox_get(f"root:{incident.key}@{incident.opened_at.isoformat()}")


async def tried(h: SnsHarness, times: int) -> bool:
    row = await root_delivery(h)
    return row is not None and row.attempts >= times


def roots(h: SnsHarness) -> list[SlackMessage]:
    return h.roots("prod-api-5xx")


def kinds(h: SnsHarness, root: SlackMessage) -> list[str]:
    """What each reply in the root's thread is (its metadata's kind; "" for a file)."""
    replies = h.slack.thread(CHANNEL, root.ts)
    return [str((m.metadata or {}).get("event_payload", {}).get("kind", "")) for m in replies]


async def run_finished(h: SnsHarness) -> bool:
    runs = await h.app.store.recent_runs(CHANNEL, 10)
    return bool(runs) and all(r.outcome != "running" for r in runs)
