"""Driving the whole app (``tests.alarms.sns_harness``) the way the world does: signed SNS
alarms of one alarm at given state-change times, and signed Slack presses of the controls on a
root message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.demo.slack_api import SlackMessage
from bot.demo.slack_requests import button_payload, payload_body, signed_headers
from tests.alarms.signing import alarm_message, notification, signer
from tests.alarms.sns_harness import CHANNEL, SLACK_ENV, SnsHarness

NAME = "prod-api-5xx"  # the alarm tests.alarms.signing builds (on app/prod-api/…)


async def fire(h: SnsHarness, state: str, when: datetime, name: str = NAME) -> None:
    """POST the alarm's ``state`` changed at ``when``; wait for what follows to be done."""
    changed_at = when.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    body = notification(alarm_message(name, state, changed_at=changed_at))
    assert (await h.post(signer().body(body)))[0] == 200
    await h.settle()


def control(root: SlackMessage, action_id: str) -> Mapping[str, Any]:
    """The button (or select) ``action_id`` on the root message."""
    [found] = [
        e
        for b in root.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    ]
    return found


def press(root: SlackMessage, action_id: str, user: str = "U0ONCALL") -> dict[str, Any]:
    """The ``block_actions`` payload of pressing button ``action_id`` on the root."""
    button = control(root, action_id)
    return button_payload(
        button, block_id="incident", user=user, channel=CHANNEL, message_ts=root.ts
    )


async def to_slack(h: SnsHarness, payload: Mapping[str, Any]) -> None:
    """Send an interaction payload to ``/slack/events``, signed; wait for its work."""
    body = payload_body(dict(payload))
    headers = signed_headers(body, SLACK_ENV["SLACK_SIGNING_SECRET"])
    async with h.http.post(f"{h.url}/slack/events", data=body.encode(), headers=headers) as r:
        assert r.status == 200
    await h.settle()
