"""Hand-off to paging, through the whole app (``build_app`` on a loopback port, signed SNS
alarms, the Slack stand-in over HTTP, moto, a SQLite file) against a local stand-in of the
PagerDuty Events API (``tests.support.pagerduty_api``): an incident nobody acknowledges is
triggered after the route's ``page_after``, *Acknowledge* sends ``acknowledge`` and the OK
``resolve``, each said in the thread; an acknowledge in time pages nothing; a refusal is said."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import PagingSettings, Route, Secrets
from bot.demo.slack_api import SlackMessage
from bot.demo.slack_model import SlackCall
from bot.incidents.paging import JOB, Paging
from bot.leases import HeldLeases
from bot.store.base import Incident
from bot.timings import Timings
from tests.alarms.sns_harness import CHANNEL, SnsHarness, start_harness
from tests.incidents.conftest import Build, make_alarm
from tests.incidents.through_app import NAME, fire, press, to_slack
from tests.support.pagerduty_api import FakeEventsApi

KEY = "R0UT1NGKEY0123456789abcdef012345"
FAST = Timings(
    paging_poll=timedelta(milliseconds=50),
    paging_backoff=timedelta(milliseconds=20),
    paging_timeout=timedelta(seconds=5),
)


@asynccontextmanager
async def paging_app(
    tmp_path: Path, moto_url: str, api: FakeEventsApi, page_after: str
) -> AsyncIterator[SnsHarness]:
    url = await api.start()
    extra = (
        f'[paging]\nurl = "{url}"\nrouting_key_env = "PD_KEY"\n'
        f'[[routes]]\nmatch = {{ alarm_name = "{NAME}" }}\nplaybook = "alarm-default"\n'
        f'page = "pagerduty"\npage_after = "{page_after}"\n'
    )
    try:
        async for h in start_harness(
            tmp_path, moto_url, extra=extra, timings=FAST, env={"PD_KEY": KEY}
        ):
            yield h
    finally:
        await api.stop()


@pytest.fixture
def api() -> FakeEventsApi:
    return FakeEventsApi()


def reply_saying(words: str) -> Callable[[SlackCall], bool]:
    def match(call: SlackCall) -> bool:
        return call.method == "chat.postMessage" and words in str(call.args.get("text", ""))

    return match


async def nothing_waits(h: SnsHarness) -> None:
    """Until the store's paging record is empty, looking after each tick."""
    paging = h.app.paging
    assert paging is not None
    while await h.app.store.schedule_get(JOB) != "[]":
        await paging.next_tick()


async def open_one(h: SnsHarness) -> tuple[datetime, SlackMessage]:
    """An ALARM now: when it opened, and its root."""
    opened = datetime.now(UTC).replace(microsecond=0)
    await fire(h, "ALARM", opened)
    [root] = h.roots(NAME)
    return opened, root


def said(h: SnsHarness, root: SlackMessage) -> list[str]:
    return [m.text for m in h.slack.thread(CHANNEL, root.ts) if "PagerDuty" in m.text]


async def test_an_unacknowledged_incident_is_paged_then_acknowledged_then_resolved(
    tmp_path: Path, moto_url: str, api: FakeEventsApi
) -> None:
    async with paging_app(tmp_path, moto_url, api, "300ms") as h:
        opened, root = await open_one(h)

        trigger = await api.wait_for("trigger")
        assert trigger["routing_key"] == KEY
        dedup = trigger["dedup_key"]
        assert dedup.endswith(f"@{opened.isoformat()}") and NAME in dedup
        assert NAME in trigger["payload"]["summary"]
        assert trigger["payload"]["source"] == "triagebot"
        [link] = trigger["links"]
        assert link["href"].startswith("https://fake-workspace.slack.com/archives/C0ALARMS/p")
        await h.slack.wait_for(reply_saying("Paged PagerDuty at"))

        await to_slack(h, press(root, "incident_ack"))
        acknowledged = await api.wait_for("acknowledge")
        assert acknowledged["dedup_key"] == dedup
        await h.slack.wait_for(reply_saying("Acknowledged in PagerDuty too"))

        await fire(h, "OK", opened + timedelta(minutes=3))
        resolved = await api.wait_for("resolve")
        assert resolved["dedup_key"] == dedup
        await h.slack.wait_for(reply_saying("Resolved in PagerDuty too"))

        assert api.actions() == ["trigger", "acknowledge", "resolve"]
        lines = said(h, root)
        assert len(lines) == 3
        assert lines[0].startswith("📟 Paged PagerDuty at ")
        assert "nobody acknowledged this incident in" in lines[0]
        assert lines[0].endswith("PagerDuty said: Event processed.")
        assert lines[1] == "📟 Acknowledged in PagerDuty too. PagerDuty said: Event processed."
        assert lines[2] == "📟 Resolved in PagerDuty too. PagerDuty said: Event processed."
        await asyncio.wait_for(nothing_waits(h), 25)  # nothing left to page


async def test_an_incident_acknowledged_before_the_delay_pages_nobody(
    tmp_path: Path, moto_url: str, api: FakeEventsApi
) -> None:
    async with paging_app(tmp_path, moto_url, api, "30s") as h:
        opened, root = await open_one(h)
        assert await h.app.store.schedule_get(JOB) != "[]"  # it is waiting to be paged

        await to_slack(h, press(root, "incident_ack"))
        # The signal: a tick saw the acknowledge and dropped the page, well before 30 s.
        await asyncio.wait_for(nothing_waits(h), 25)

        await fire(h, "OK", opened + timedelta(minutes=1))
        assert api.received == []
        assert said(h, root) == []


async def test_a_refused_page_is_said_in_the_thread_after_retrying_what_may_pass(
    tmp_path: Path, moto_url: str, api: FakeEventsApi
) -> None:
    api.fail(500, times=1)
    api.fail(429, times=1, retry_after=0.05)
    api.fail(400)
    async with paging_app(tmp_path, moto_url, api, "100ms") as h:
        _, root = await open_one(h)

        await h.slack.wait_for(reply_saying("Could not trigger"), timeout=30)
        [line] = said(h, root)
        assert line == (
            "⚠️ Could not trigger this incident in PagerDuty (tried 3 times): Event object is "
            "invalid: Length of 'routing_key' is incorrect (should be 32 characters). "
            "Reach the on-call another way."
        )
        assert len(api.received) == 3 and api.accepted == []
        await asyncio.wait_for(nothing_waits(h), 25)  # not tried again


async def test_a_restarted_bot_and_its_replicas_page_a_due_incident_exactly_once(
    build: Build, api: FakeEventsApi
) -> None:
    """The due time is in the store: the process that saw the incident open is gone, and two
    others look at the same moment; PagerDuty gets one trigger."""
    url = await api.start()
    try:
        world = await build(
            routes=(
                Route(playbook="alb-errors", page="pagerduty", page_after=timedelta(minutes=5)),
            )
        )
        settings = world.settings.model_copy(
            update={
                "paging": PagingSettings(url=url),
                "secrets": Secrets(pagerduty_routing_key=SecretStr(KEY)),
            }
        )

        def replica() -> Paging:
            sender, held = world.parts["sender"], HeldLeases()
            return Paging(
                settings,
                world.store,
                sender,
                world.metrics,
                held,
                timings=FAST,
                clock=world.clock,
                outbox=world.incidents.outbox,
            )

        alarm = make_alarm(world.clock.now)
        incident = Incident(
            key=alarm.incident_key,
            route=f"{CHANNEL}/alb-errors",
            channel=CHANNEL,
            root_ts="",
            state="ALARM",
            opened_at=world.clock.now,
            state_changed_at=world.clock.now,
            alarm_name=alarm.name,
        )
        assert await world.store.incident_create(incident)
        await replica().opened(incident, alarm)  # ... and that process is gone

        world.clock.advance(timedelta(minutes=4, seconds=59))
        first, second = replica(), replica()
        await asyncio.gather(first.tick(), second.tick())
        assert api.received == []  # not due yet

        world.clock.advance(timedelta(seconds=1))
        await asyncio.gather(first.tick(), second.tick())
        await asyncio.gather(first.tick(), second.tick())
        assert api.actions() == ["trigger"]
        assert api.accepted[0]["dedup_key"] == f"{incident.key}@{incident.opened_at.isoformat()}"
    finally:
        await api.stop()
