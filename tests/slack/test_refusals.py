"""What /slack/events refuses before Bolt sees it: any bad signature header is 401 (never a
500), a signed but malformed body is 400 with one log line (never a traceback), and a replayed
signed request is answered without running twice."""

from __future__ import annotations

import logging
import time

import pytest

from tests.slack.harness import CHANNEL, Harness, command_body, sign

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
        {
            "X-Slack-Request-Timestamp": "\u0661\u0667" + "\u0660" * 8,
            "X-Slack-Signature": "v0=00",
        },  # Arabic digits
        {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""},
        {"X-Slack-Request-Timestamp": str(int(time.time()))},
        {"X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "garbage"},
    ],
    ids=["letters", "non-ascii-digits", "empty", "no-signature", "no-timestamp", "bad-signature"],
)
async def test_any_bad_signature_header_is_401_without_a_traceback(
    harness: Harness, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    body = command_body("alb-errors load_balancer=prod-web")
    with caplog.at_level(logging.DEBUG):
        status, _ = await harness.post(body, {**FORM, **headers})
    assert status == 401
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    await harness.settle()
    assert harness.slack.messages(CHANNEL) == []


@pytest.mark.parametrize(
    "body",
    [
        "payload=not-json",
        "payload=%5B1%2C2%5D",  # a JSON array
        'payload={"no":"type"}',
        '{"type": "event_callback", "event": ',
    ],
    ids=["payload-not-json", "payload-array", "payload-without-type", "json-truncated"],
)
async def test_a_signed_but_malformed_body_is_400_with_a_log_line(
    harness: Harness, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.slack.gate"):
        status, _ = await harness.post(body, sign(body))
    assert status == 400
    assert any("malformed" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_replayed_signed_command_is_answered_and_runs_once(harness: Harness) -> None:
    body = command_body(f"alb-errors load_balancer={harness.incident.load_balancer}")
    headers = sign(body)
    statuses = [(await harness.post(body, headers))[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    await harness.settle()
    assert len(harness.slack.messages(CHANNEL)) == 1
    assert len(await harness.app.store.recent_runs(CHANNEL, 5)) == 1
    # The same command signed anew (a person typing it again) runs again.
    await harness.post(body, sign(body, timestamp=int(time.time()) + 1))
    await harness.settle()
    assert len(await harness.app.store.recent_runs(CHANNEL, 5)) == 2
