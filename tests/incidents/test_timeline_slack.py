"""Exporting the timeline in Slack, through the whole app (``build_app`` on a loopback port,
signed SNS alarms and signed Slack interactions, the Slack stand-in over HTTP): *Timeline* in
the root's overflow menu, and the *Export timeline* message shortcut on a reply in the thread,
each upload the Markdown file to the thread; a person's reply and its pin are in it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bot.demo.slack_api import SlackMessage
from bot.demo.slack_requests import signed_headers, slash_command_body
from bot.incidents.timeline_slack import SHORTCUT_CALLBACK
from tests.alarms.sns_harness import CHANNEL, SLACK_ENV, SnsHarness
from tests.incidents.through_app import NAME, control, fire, press, to_slack

NOW = datetime.now(UTC).replace(microsecond=0)


def choose(root: SlackMessage, choice: str) -> dict[str, Any]:
    """The ``block_actions`` payload of choosing ``choice`` in the root's overflow menu."""
    menu = control(root, "incident_more")
    [option] = [o for o in menu["options"] if o["value"] == choice]
    payload = press(root, "incident_rerun")  # the same press, of the menu instead
    payload["actions"] = [
        {
            "type": "overflow",
            "action_id": menu["action_id"],
            "block_id": "incident",
            "selected_option": option,
            "action_ts": f"{time.time():.6f}",
        }
    ]
    return payload


def shortcut(message: SlackMessage, user: str = "U0ONCALL") -> dict[str, Any]:
    """A ``message_action`` payload: the message shortcut on ``message``, shaped like Slack's."""
    return {
        "type": "message_action",
        "token": "xyzz0WbapA4vBCDEFasx0q6G",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": "T1DC2JH3J", "domain": "testteamnow"},
        "user": {"id": user, "username": "oncall", "team_id": "T1DC2JH3J", "name": "oncall"},
        "channel": {"id": message.channel, "name": "incidents"},
        "callback_id": SHORTCUT_CALLBACK,
        "trigger_id": "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        "message_ts": message.ts,
        "message": {
            "type": "message",
            "user": message.user,
            "ts": message.ts,
            "thread_ts": message.thread_ts or message.ts,
            "text": message.text,
        },
        "response_url": "https://hooks.slack.com/app/T1DC2JH3J/1/x",
    }


async def command(h: SnsHarness, text: str) -> None:
    """``/triage text`` from the on-call in the channel, signed; wait for its work."""
    body = slash_command_body(text, user="U0ONCALL", channel=CHANNEL)
    headers = signed_headers(body, SLACK_ENV["SLACK_SIGNING_SECRET"])
    async with h.http.post(f"{h.url}/slack/events", data=body.encode(), headers=headers) as r:
        assert r.status == 200
    await h.settle()


def uploaded(h: SnsHarness) -> list[str]:
    return [
        (f.content or b"").decode()
        for f in h.slack.files.values()
        if f.completed and f.filename.endswith(".md")
    ]


async def test_timeline_from_the_overflow_menu_and_the_shortcut(app_harness: SnsHarness) -> None:
    h = app_harness
    await fire(h, "ALARM", NOW - timedelta(minutes=20))
    [root] = h.roots(NAME)
    await to_slack(h, press(root, "incident_ack"))
    reply = h.slack.workspace.add_message(
        CHANNEL, "Rolling back <!here>", user="U0SECOND", thread_ts=root.ts
    )
    h.slack.workspace.call("pins.add", {"channel": CHANNEL, "timestamp": reply.ts})
    await fire(h, "OK", NOW - timedelta(minutes=6))

    [root] = h.roots(NAME)
    await to_slack(h, choose(root, "timeline"))
    [from_menu] = uploaded(h)
    lines = from_menu.splitlines()
    assert lines[0] == f"# Timeline: {NAME}"
    assert "- **Time to resolve:** 14m" in lines
    assert any(line.startswith("- **Time to acknowledge:** ") for line in lines)
    pinned = "💬 @U0SECOND: Rolling back \\<!here\\> 📌 *pinned*"
    assert any(line.endswith(pinned) for line in lines)
    assert any("👀 acknowledged by @U0ONCALL" in line for line in lines)
    [upload] = [f for f in h.slack.files.values() if f.filename.endswith(".md")]
    assert (upload.channel, upload.thread_ts) == (CHANNEL, root.ts)

    await to_slack(h, shortcut(reply))
    first, from_shortcut = uploaded(h)  # the second also counts the first's file message
    assert first == from_menu and from_shortcut.startswith(lines[0] + "\n\n" + lines[2])
    assert any(line.endswith(pinned) for line in from_shortcut.splitlines())
    assert not h.slack.ephemerals


async def test_triage_timeline_names_the_alarm_and_uploads_its_latest_incident(
    app_harness: SnsHarness, moto_url: str
) -> None:
    h = app_harness
    cloudwatch = boto3.client(
        "cloudwatch",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    cloudwatch.put_metric_alarm(
        AlarmName=NAME,
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    await fire(h, "ALARM", NOW - timedelta(minutes=20))
    [root] = h.roots(NAME)

    await command(h, f"timeline {NAME}")
    [timeline] = uploaded(h)
    assert timeline.startswith(f"# Timeline: {NAME}\n")
    [upload] = [f for f in h.slack.files.values() if f.filename.endswith(".md")]
    assert (upload.channel, upload.thread_ts) == (CHANNEL, root.ts)

    await command(h, "timeline no-such-alarm")
    [answer] = h.slack.ephemerals
    assert "There is no CloudWatch alarm named `no-such-alarm`" in answer.text
