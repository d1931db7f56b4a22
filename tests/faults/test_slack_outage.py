"""Slack unreachable for a long time, and Slack failing now and then: the whole app
(``build_app`` on a loopback port, signed SNS alarms over HTTP, the Slack stand-in over HTTP,
a real SQLite store, moto for AWS) on a clock the test moves, so that two hours of outage take
a few seconds. After each fault every accepted alarm is in Slack exactly once, with its
playbook's result in a final state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.demo.slack_model import blocks_text
from tests.alarms.signing import notification, signer
from tests.alarms.sns_harness import CHANNEL, SnsHarness
from tests.faults.outage import (
    ShiftedClock,
    eventually,
    kinds,
    outage_harness,
    root_delivery,
    roots,
    run_finished,
    send_alarm,
    tried,
)


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def h(tmp_path: Path, moto_url: str, clock: ShiftedClock) -> AsyncIterator[SnsHarness]:
    async for harness in outage_harness(tmp_path, moto_url, clock):
        yield harness


def shown(h: SnsHarness) -> str:
    [root] = roots(h)
    return "\n".join(blocks_text(root.blocks)) if root.blocks else root.text


async def one_root_and_its_run(h: SnsHarness) -> bool:
    return len(roots(h)) == 1 and "run" in kinds(h, roots(h)[0]) and await run_finished(h)


async def assert_exactly_once(h: SnsHarness) -> None:
    """One root, one run in its thread, in a final state; nothing given up on."""
    [root] = roots(h)
    assert kinds(h, root).count("run") == 1, kinds(h, root)
    [run] = await h.app.store.recent_runs(CHANNEL, 10)
    assert run.thread_ts == root.ts and run.outcome in ("ok", "warn", "error")
    assert await h.app.store.inbox_failed_count() == 0


async def test_a_root_slack_could_not_take_for_two_hours_is_posted_late_once(
    h: SnsHarness, clock: ShiftedClock
) -> None:
    h.slack.set_down(True)
    await send_alarm(h, clock, "outage-1")
    await eventually(lambda: tried(h, 3), "the root was tried three times")
    clock.advance(timedelta(hours=2, minutes=5))  # still down, two hours on
    await eventually(lambda: tried(h, 5), "the root is still tried after two hours")
    assert roots(h) == []

    h.slack.set_down(False)
    await eventually(lambda: one_root_and_its_run(h), "the root and its run in Slack")

    await assert_exactly_once(h)
    assert "Posted 2 h 5 m late: Slack was unreachable." in shown(h)
    row = await root_delivery(h)
    assert row is not None and row.state == "sent"


async def test_an_ok_during_the_outage_shows_root_and_resolution_together_and_runs(
    h: SnsHarness, clock: ShiftedClock
) -> None:
    h.slack.set_down(True)
    await send_alarm(h, clock, "outage-alarm", minute=0)
    await eventually(lambda: tried(h, 2), "the root was tried")
    clock.advance(timedelta(minutes=30))
    await send_alarm(h, clock, "outage-ok", state="OK", minute=30)
    await eventually(
        lambda: _done(h, "outage-ok"),
        "the OK was handled",
    )

    h.slack.set_down(False)
    await eventually(lambda: one_root_and_its_run(h), "the root and its run in Slack")
    await eventually(lambda: _resolved_in_thread(h), "the resolution in the root's thread")

    await assert_exactly_once(h)
    assert "Resolved after 30m" in roots(h)[0].text  # the root redrawn resolved
    assert "Posted 30 m late" in shown(h)


async def test_a_notification_slack_could_not_take_is_posted_once_when_it_is_back(
    h: SnsHarness, clock: ShiftedClock
) -> None:
    h.slack.set_down(True)
    envelope = notification("Deploy 42 finished", message_id="note-1", subject="Deploy")
    assert (await h.post(signer().body(envelope)))[0] == 200
    await eventually(lambda: _done(h, "note-1"), "the notification was handled")
    # The clock jumps only once a try has failed and the next waits for its backoff: a try
    # under way while it jumps would carry the time it started at (not late).
    await eventually(lambda: _waiting_after_a_try(h, "notification:note-1"), "a failed try")
    clock.advance(timedelta(minutes=10))

    h.slack.set_down(False)
    await eventually(lambda: _posted(h, "Deploy 42 finished"), "the notification in Slack")
    late = "*Deploy*\nDeploy 42 finished\n_Posted 10 m late: Slack was unreachable._"
    assert [m.text for m in h.slack.messages(CHANNEL)] == [late]


async def test_slack_500s_then_fine_post_one_root(h: SnsHarness, clock: ShiftedClock) -> None:
    h.slack.fail_next("chat.postMessage", 500, times=7)  # the client's own retries fail too
    await send_alarm(h, clock, "five-hundreds")
    await eventually(lambda: one_root_and_its_run(h), "the root and its run in Slack")
    await assert_exactly_once(h)
    row = await root_delivery(h)
    assert row is not None and row.attempts >= 2


async def test_429s_with_retry_after_past_the_clients_own_retries_post_one_root(
    h: SnsHarness, clock: ShiftedClock
) -> None:
    # The client waits out Retry-After itself, a few times; then the outbox has the root and
    # waits at least Retry-After again (its own backoff here is shorter) before its next try.
    h.slack.fail_next("chat.postMessage", 429, retry_after=1, times=5)
    await send_alarm(h, clock, "rate-limited")
    await eventually(lambda: one_root_and_its_run(h), "the root and its run in Slack")
    await assert_exactly_once(h)
    row = await root_delivery(h)
    assert row is not None and row.attempts >= 2
    assert sum(c.status == 429 for c in h.slack.calls_to("chat.postMessage")) == 5


async def test_answers_that_come_after_the_client_gave_up_post_one_root(
    h: SnsHarness, clock: ShiftedClock
) -> None:
    h.slack.answer_late("chat.postMessage", 2.5, times=2)  # taken, answered after the timeout
    await send_alarm(h, clock, "late-answers")
    await eventually(lambda: one_root_and_its_run(h), "the root and its run in Slack")
    await assert_exactly_once(h)
    assert h.slack.calls_to("conversations.history"), "the unanswered post was looked for"


async def _done(h: SnsHarness, message_id: str) -> bool:
    item = await h.app.store.inbox_get(message_id)
    return item is not None and item.status == "done"


async def _waiting_after_a_try(h: SnsHarness, delivery_id: str) -> bool:
    row = await h.app.store.outbox_get(delivery_id)
    return row is not None and row.attempts >= 1 and row.lease_until is None and bool(row.error)


async def _posted(h: SnsHarness, text: str) -> bool:
    return any(text in m.text for m in h.slack.messages(CHANNEL))


async def _resolved_in_thread(h: SnsHarness) -> bool:
    return any("Resolved" in m.text for m in h.slack.thread(CHANNEL, roots(h)[0].ts))
