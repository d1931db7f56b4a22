"""The shift hand-over, through the whole app (``build_app`` on a loopback port, signed SNS
alarms and slash commands, the Slack stand-in over HTTP, moto, a real SQLite file) with an
injected clock: at the shift change of ``[handover] cron`` it posts what is still open, what the
shift saw and the runs people started, once, even when another process starts after it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import build_app
from bot.demo.slack_api import SlackMessage
from bot.demo.slack_requests import signed_headers, slash_command_body
from tests.alarms.sns_harness import CHANNEL, SLACK_ENV, SnsHarness, start_harness
from tests.incidents.through_app import NAME, fire, press, to_slack

HANDOVER = "C0HANDOVER"
ZONE = ZoneInfo("Europe/Berlin")
# The shift changes once a day, three hours from now (SNS and Slack sign with the real time, so
# the shift's alarms and runs happen now, in the last hours of the shift).
CHANGE = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=3)
CRON = f"{CHANGE.astimezone(ZONE):%M %H} * * *"
CONFIG = f'[handover]\ncron = "{CRON}"\ntimezone = "Europe/Berlin"\nchannel = "{HANDOVER}"\n'


class Clock:
    """The app's clock: the real time until ``now`` is set."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


def text_of(message: SlackMessage) -> str:
    return "\n".join(b["text"]["text"] for b in message.blocks if "text" in b)


async def slash(h: SnsHarness, text: str, channel: str = CHANNEL) -> None:
    body = slash_command_body(text, user="U0ONCALL", channel=channel)
    headers = signed_headers(body, SLACK_ENV["SLACK_SIGNING_SECRET"])
    async with h.http.post(f"{h.url}/slack/events", data=body.encode(), headers=headers) as r:
        assert r.status == 200
    await h.settle()


async def a_shift(h: SnsHarness) -> None:
    """One alarm still open and acknowledged, one that fired for 30 minutes, and a run."""
    await fire(h, "ALARM", CHANGE - timedelta(hours=7))
    await to_slack(h, press(h.roots(NAME)[-1], "incident_ack"))
    await fire(h, "ALARM", CHANGE - timedelta(hours=6), "prod-api-latency")
    await fire(h, "OK", CHANGE - timedelta(hours=5, minutes=30), "prod-api-latency")
    await slash(h, "alb-errors load_balancer=app/prod-api/50dc6c495c0c9188")


async def test_at_the_shift_change_the_hand_over_is_posted_once_across_a_restart(
    tmp_path: Path, moto_url: str
) -> None:
    clock = Clock()
    async for h in start_harness(tmp_path, moto_url, extra=CONFIG, clock=clock):
        assert h.app.handover is not None
        await a_shift(h)
        clock.now = CHANGE - timedelta(minutes=1)
        assert await h.app.handover.tick() is None  # not yet
        assert h.slack.messages(HANDOVER) == []

        clock.now = CHANGE + timedelta(minutes=2)
        assert await h.app.handover.tick() == CHANGE
        assert await h.app.handover.tick() is None

        restarted = build_app(h.app.settings, clock=clock)  # another process, the same store
        await restarted.store.start()
        try:
            assert restarted.handover is not None
            clock.now = CHANGE + timedelta(hours=1)
            assert await restarted.handover.tick() is None
        finally:
            await restarted.store.close()
            restarted.aws.close()

        [message] = h.slack.messages(HANDOVER)
        text = text_of(message)
        assert message.text == "Shift hand-over: 1 open, 2 opened, 1 resolved"
        assert "*Still open (1):*" in text
        [open_line] = [
            line for line in text.splitlines() if line.startswith("• <") and NAME in line
        ]
        assert "acked by <@U0ONCALL>" in open_line and "open 7h," in open_line
        assert "<https://fake-workspace.slack.com/archives/C0ALARMS/p" in open_line
        assert "2 opened, 1 resolved, 7h30m firing in all" in text
        assert "`prod-api-5xx` (1)" in text and "`prod-api-latency` (1)" in text
        assert "*Runs (1):*" in text and "`alb-errors` by <@U0ONCALL>" in text


async def test_replicas_ticking_at_once_post_one_hand_over(tmp_path: Path, moto_url: str) -> None:
    clock = Clock()
    async for h in start_harness(tmp_path, moto_url, extra=CONFIG, clock=clock):
        replicas = [build_app(h.app.settings, clock=clock) for _ in range(3)]
        for replica in replicas:
            await replica.store.start()
        try:
            clock.now = CHANGE + timedelta(minutes=1)
            services = [r.handover for r in (h.app, *replicas) if r.handover is not None]
            posted = await asyncio.gather(*(s.tick() for s in services))
        finally:
            for replica in replicas:
                await replica.store.close()
                replica.aws.close()

        assert len(services) == 4 and posted.count(CHANGE) == 1 and posted.count(None) == 3
        [message] = h.slack.messages(HANDOVER)
        assert message.text == "Shift hand-over: 0 open, 0 opened, 0 resolved"
        assert "*Still open:* nothing" in text_of(message)


async def test_triage_handover_posts_the_last_hours_on_demand(
    tmp_path: Path, moto_url: str
) -> None:
    async for h in start_harness(tmp_path, moto_url):
        await a_shift(h)
        await slash(h, "handover since=2h45m")

        [message] = [m for m in h.slack.messages(CHANNEL) if m.text.startswith("Shift hand")]
        # The alarm still open is listed; only what changed in the last 2h45m is counted.
        assert message.text == "Shift hand-over: 1 open, 0 opened, 1 resolved"
        assert "*Runs (1):*" in text_of(message)


async def test_a_hand_over_slack_did_not_take_is_posted_once_when_slack_is_back(
    tmp_path: Path, moto_url: str
) -> None:
    clock = Clock()
    async for h in start_harness(tmp_path, moto_url, extra=CONFIG, clock=clock):
        assert h.app.handover is not None
        h.slack.set_down(True)
        clock.now = CHANGE + timedelta(minutes=1)
        assert await h.app.handover.tick() == CHANGE, "the shift's hand-over is the outbox's now"
        assert h.slack.messages(HANDOVER) == []

        clock.now = CHANGE + timedelta(hours=1)
        assert await h.app.handover.tick() is None, "no second hand-over while the first waits"
        since = len(h.slack.calls)
        h.slack.set_down(False)
        await h.app.incidents.outbox.deliver_due()  # or the app's own delivery loop does
        await h.slack.wait_for(
            lambda c: c.method == "chat.postMessage" and c.ok and c.args.get("channel") == HANDOVER,
            timeout=30,
            since=since,
        )

        [message] = h.slack.messages(HANDOVER)
        assert message.text == "Shift hand-over: 0 open, 0 opened, 0 resolved"
        assert "Posted 59 m late: Slack was unreachable." in json.dumps(message.blocks)
        assert await h.app.incidents.outbox.deliver_due() == 0
        assert len(h.slack.messages(HANDOVER)) == 1
