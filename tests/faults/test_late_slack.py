"""Slack takes a post and answers after the client gave up: the whole app (``build_app`` on a
loopback port, a signed SNS alarm, the Slack stand-in over HTTP) posts one root, not two, and
the playbook's run continues in its thread."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.timings import Timings
from tests.alarms.signing import notification, signer
from tests.alarms.sns_harness import CHANNEL, SnsHarness, start_harness

TIMINGS = Timings(slack_timeout=timedelta(seconds=1), slack_backoff=timedelta(seconds=0.05))


@pytest.fixture
async def harness(tmp_path: Path, moto_url: str) -> AsyncIterator[SnsHarness]:
    async for h in start_harness(tmp_path, moto_url, timings=TIMINGS):
        yield h


async def test_a_root_slack_answers_after_the_timeout_is_posted_once(harness: SnsHarness) -> None:
    h = harness
    h.slack.answer_late("chat.postMessage", 2.5)  # the root: stored at once, answered late
    assert (await h.post(signer().body(notification(message_id="late-1"))))[0] == 200
    await h.settle()

    [root] = h.roots("prod-api-5xx")  # exactly one root
    assert root.metadata is not None
    assert root.metadata["event_payload"]["kind"] == "root"
    assert h.slack.calls_to("conversations.history"), "the timed-out post was looked for"
    incident = next(iter(await h.app.store.recent_runs(CHANNEL, 5)), None)
    assert incident is not None and incident.thread_ts == root.ts
    replies = h.slack.thread(CHANNEL, root.ts)
    assert replies, "the run went into the adopted root's thread"
    [run] = [m for m in replies if m.metadata and m.metadata["event_payload"]["kind"] == "run"]
    assert run.metadata is not None and run.metadata["event_payload"]["run_id"] == incident.run_id
    assert incident.outcome != "running"
