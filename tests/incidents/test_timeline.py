"""The exported timeline of a whole incident (alarm, playbook run, chart, acknowledgement, mute,
state changes and a repeat notification, two replies from people, a pin, bot messages, OK and a
resolution note), built from a real SQLite store and compared with the expected Markdown file."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.alarms.model import Alarm, AlarmSource
from bot.demo.slack_api import FakeSlackApi
from bot.incidents.changes import save_snapshot
from bot.incidents.timeline import (
    ACKNOWLEDGED,
    CHART,
    MUTED,
    REPEATED,
    STATE,
    Event,
    Message,
    timeline_markdown,
)
from bot.incidents.timeline_store import gather, record_event
from bot.render.text import render_text
from bot.results import Finding, RunResult, Severity, Status, StepResult
from bot.store.base import Incident, RunRecord
from bot.store.sqlite import SqliteStore
from tests.incidents.conftest import Build, button_body, make_alarm
from tests.test_cli import triagebot

EXPECTED = Path(__file__).resolve().parent / "timeline_expected.md"
OPENED = datetime(2026, 12, 1, 14, 2, 5, tzinfo=UTC)
KEY = "123456789012/us-east-1/prod-api-5xx"
ROOT = f"{OPENED.timestamp():.6f}"


def at(minutes: float) -> datetime:
    return OPENED + timedelta(minutes=minutes)


def alarm() -> Alarm:
    return Alarm(
        source=AlarmSource.ALARM,
        name="prod-api-5xx",
        state="ALARM",
        reason="Threshold Crossed: 1 datapoint [42.0] was > 10 *for* <1 period>",
        account="123456789012",
        region="us-east-1",
        changed_at=OPENED,
    )


def run_output() -> tuple[RunRecord, str]:
    steps = (
        StepResult("alarm.describe", "cloudwatch.describe_alarm", Status.OK, summary="Seen."),
        StepResult(
            "elbv2.target_health",
            "elbv2.target_health",
            Status.WARN,
            summary="2 of 3 targets unhealthy in `web-prod`",
            findings=(Finding("i-0abc failing health checks", Severity.WARNING),),
        ),
        StepResult("logs.errors", "logs.insights", Status.OK, summary="No errors."),
    )
    result = RunResult("r-1", "alb-5xx", "ALB 5xx", {}, steps, at(0.5), at(1), "alarm")
    record = RunRecord(
        run_id="r-1",
        channel="C1",
        user="alarm",
        playbook="alb-5xx",
        params={},
        source="alarm",
        started_at=at(0.5),
        finished_at=at(1),
        outcome="warn",
        step_statuses={s.step_id: str(s.status) for s in steps},
        message_ts="1764597760.000200",
        thread_ts=ROOT,
    )
    return record, render_text(result)


MESSAGES = [
    Message(OPENED, "", "🔴 prod-api-5xx", bot=True),  # the root
    Message(at(1), "", "ALB 5xx: 1 step warned", bot=True),
    Message(at(2), "", "Seen before: twice in 30d", bot=True),
    Message(at(5), "U0ONCALL", "Looks like the deploy at 14:00 <!channel>", pinned=True),
    Message(at(9), "U0SECOND", "Rolling back web-release-4711 now"),
    Message(at(14), "", "Resolved after 14m", bot=True),
]


async def whole_incident(path: Path) -> None:
    """The incident in a SQLite file at ``path``: its alarm, the alarm's run in its thread (and
    one in another thread), an acknowledgement, a mute, OK and a resolution note."""
    store = SqliteStore(path)
    await store.start()
    incident = Incident(
        key=KEY,
        route="C1/alarm-default",
        channel="C1",
        root_ts=ROOT,
        state="ALARM",
        opened_at=OPENED,
        state_changed_at=OPENED,
        alarm_name="prod-api-5xx",
    )
    await save_snapshot(store, KEY, alarm())
    assert await store.incident_create(incident)
    record, output = run_output()
    await store.record_run(record)
    await store.save_output("r-1", output)
    other_thread = dataclasses.replace(record, run_id="r-2", thread_ts="1.2", playbook="elsewhere")
    await store.record_run(other_thread)
    assert await record_event(store, incident, Event(at(3), ACKNOWLEDGED, "U0ONCALL"))
    assert await record_event(store, incident, Event(at(4), MUTED, "U0ONCALL", until=at(64)))
    chart = Event(at(0.75), CHART, "", detail="prod-api-5xx-last-3h.png")
    assert await record_event(store, incident, chart)
    assert await record_event(store, incident, Event(at(6), STATE, "", detail="INSUFFICIENT_DATA"))
    assert await record_event(store, incident, Event(at(7), STATE, "", detail="ALARM"))
    assert await record_event(store, incident, Event(at(8), REPEATED, "", detail="ALARM"))
    resolved = dataclasses.replace(
        incident,
        state="OK",
        resolved_at=at(14),
        acknowledged_by="U0ONCALL",
        note="Rolled back web-release-4711 & the 5xx *stopped*",
        note_by="U0ONCALL",
    )
    assert await store.incident_update(resolved, 0)
    await store.close()


async def whole_incident_config(tmp_path: Path) -> Path:
    """A config whose store holds the whole incident, with ``[slack] timezone`` set."""
    await whole_incident(tmp_path / "triagebot.db")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "triagebot.db"}"\n'
        '[slack]\ntimezone = "America/New_York"\n'
    )
    return config


async def test_a_whole_incident_exports_as_the_expected_markdown(tmp_path: Path) -> None:
    await whole_incident(tmp_path / "triagebot.db")
    store = SqliteStore(tmp_path / "triagebot.db")
    await store.start()
    stored = await store.incident_get(KEY)
    assert stored is not None

    facts = await gather(store, stored, MESSAGES)
    await store.close()
    exported = timeline_markdown(facts, ZoneInfo("America/New_York"))

    assert exported == EXPECTED.read_text()


async def test_acknowledge_and_mute_presses_are_in_the_timeline_with_their_times(
    build: Build,
) -> None:
    world = await build()
    fired = world.clock.now
    alarm = make_alarm(fired)
    await world.incidents.handle(alarm)
    world.clock.advance(timedelta(minutes=3))
    await world.incidents.on_button(button_body("incident_ack", alarm.incident_key, user="W111"))
    world.clock.advance(timedelta(minutes=1))
    await world.incidents.on_button(button_body("incident_mute", alarm.incident_key))
    await world.incidents.handle(make_alarm(fired + timedelta(minutes=5), "INSUFFICIENT_DATA"))
    await world.incidents.handle(make_alarm(fired + timedelta(minutes=6)))
    await world.incidents.handle(make_alarm(fired + timedelta(minutes=7)))
    await world.incidents.handle(make_alarm(fired + timedelta(minutes=9), "OK"))
    incident = await world.store.incident_get(alarm.incident_key)
    assert incident is not None and not incident.is_open

    lines = timeline_markdown(await gather(world.store, incident), ZoneInfo("UTC")).splitlines()

    def stamp(when: datetime) -> str:
        return f"- {when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC — "

    assert "- **Time to acknowledge:** 3m (by @W111)" in lines
    assert "- **Time to resolve:** 9m" in lines
    assert stamp(fired + timedelta(minutes=3)) + "👀 acknowledged by @W111" in lines
    muted = stamp(fired + timedelta(minutes=4)) + "🔕 muted by @U0ONCALL until "
    assert any(line.startswith(muted) for line in lines), lines
    [run] = [line for line in lines if "▶️ playbook" in line]
    assert "run by the alarm" in run
    # Every state change while it was open, and the repeat ALARM that replied in the thread.
    assert stamp(fired + timedelta(minutes=5)) + "🔀 state changed to INSUFFICIENT\\_DATA" in lines
    assert stamp(fired + timedelta(minutes=6)) + "🔀 state changed to ALARM" in lines
    repeat = stamp(fired + timedelta(minutes=7)) + "🔁 ALARM notified again (a reply in the thread)"
    assert repeat in lines, lines


async def test_the_cli_prints_it_from_the_store_without_the_slack_messages(
    tmp_path: Path,
) -> None:
    """``triagebot timeline`` in a real process, with no Slack token: the same document, less
    the thread's messages (those come from Slack)."""
    config = await whole_incident_config(tmp_path)
    expected = [
        line
        for line in EXPECTED.read_text().splitlines()
        if " — 💬 " not in line and " — 🤖 " not in line
    ]

    for named in (KEY, f"{KEY}@2026-12-01T14:02:05+00:00"):
        done = triagebot("timeline", named, "--config", str(config), env={"SLACK_BOT_TOKEN": ""})
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout.splitlines() == expected

    missing = triagebot("timeline", f"{KEY}@2026-12-01T14:00:00+00:00", "--config", str(config))
    assert missing.returncode == 2
    assert "no incident" in missing.stderr


def ts_of(when: datetime) -> str:
    return f"{when.timestamp():.6f}"


async def test_with_a_slack_token_the_cli_lists_the_thread_and_its_pins(tmp_path: Path) -> None:
    """The thread in the Slack stand-in (over HTTP): the bot's root and replies, two people's
    replies, one of them pinned; the CLI prints exactly the expected file."""
    config = await whole_incident_config(tmp_path)
    async with FakeSlackApi(token="xoxb-cli") as slack:
        workspace = slack.workspace
        root, *replies = MESSAGES
        workspace.add_message("C1", root.text, user="U0BOT", ts=ROOT, bot=True)
        for m in replies:
            ts = ts_of(m.at)
            user = m.user or "U0BOT"
            workspace.add_message("C1", m.text, user=user, thread_ts=ROOT, ts=ts, bot=m.bot)
            if m.pinned:
                workspace.call("pins.add", {"channel": "C1", "timestamp": ts})
        env = {"SLACK_API_URL": slack.base_url, "SLACK_BOT_TOKEN": "xoxb-cli"}
        done = await asyncio.to_thread(triagebot, "timeline", KEY, "--config", str(config), env=env)

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == EXPECTED.read_text()
    assert [c.method for c in slack.calls] == ["conversations.replies", "pins.list"]
