"""The outbox against the Slack stand-in over HTTP and a real SQLite file, on a clock the test
moves: a post Slack did not take is kept and posted once later, backing off with jitter up to a
cap and never before Retry-After, into its thread once that exists; replicas and a crash
mid-post post it once; what is refused or no longer relevant is dropped and said."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.slack_api import FakeSlackApi
from bot.metrics import Metrics
from bot.outbound.outbox import Outbox
from bot.outbound.pacing import ChannelPacer
from bot.outbound.sender import SlackSender
from bot.store import SqliteStore
from bot.timings import Timings

CHANNEL = "C0OUTBOX"
TIMINGS = Timings(
    outbox_backoff=timedelta(seconds=1),
    outbox_max_backoff=timedelta(seconds=5),
    outbox_relevance=timedelta(hours=1),
    outbox_poll=timedelta(seconds=1),
    late_after=timedelta(minutes=2),
    lease=timedelta(seconds=30),
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(token="xoxb-outbox") as fake:
        yield fake


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[list[SqliteStore]]:
    """Two stores on one file: two processes, or two replicas."""
    opened = [SqliteStore(tmp_path / "state.db") for _ in range(2)]
    for store in opened:
        await store.start()
    yield opened
    for store in opened:
        await store.close()


def outbox(slack: FakeSlackApi, store: SqliteStore, clock: Clock, jitter: float = 0.0) -> Outbox:
    # No retry handlers: each try is one request, and a 429 comes back at once.
    client = AsyncWebClient(token="xoxb-outbox", base_url=slack.base_url)
    sender = SlackSender(client, Metrics(), posts=ChannelPacer(rate=1000.0, burst=100))
    return Outbox(store, sender, Metrics(), "test", clock, TIMINGS, jitter=lambda: jitter)


async def test_a_post_slack_did_not_take_waits_in_the_store_and_is_posted_once_later(
    slack: FakeSlackApi, stores: list[SqliteStore]
) -> None:
    clock = Clock()
    box = outbox(slack, stores[0], clock)
    slack.set_down(True)
    sent = await box.post(CHANNEL, "prod-api-5xx is in ALARM", delivery="root:a")
    assert sent.queued and not sent.ok
    assert await box.deliver_due() == 0  # not due yet: nothing tried

    slack.set_down(False)
    clock.advance(1)
    assert await box.deliver_due() == 1
    assert [m.text for m in slack.messages(CHANNEL)] == ["prod-api-5xx is in ALARM"]
    row = await stores[0].outbox_get("root:a")
    assert row is not None and (row.state, row.ts) == ("sent", slack.messages(CHANNEL)[0].ts)
    again = await box.post(CHANNEL, "prod-api-5xx is in ALARM", delivery="root:a")
    assert again.ok and again.ts == row.ts and len(slack.messages(CHANNEL)) == 1


@pytest.mark.parametrize(("jitter", "waits"), [(0.0, [1, 2, 4, 5, 5]), (0.999, [0.5, 1, 2])])
async def test_tries_back_off_doubling_with_jitter_up_to_the_cap(
    slack: FakeSlackApi, stores: list[SqliteStore], jitter: float, waits: list[float]
) -> None:
    clock = Clock()
    box = outbox(slack, stores[0], clock, jitter)
    slack.set_down(True)
    await box.post(CHANNEL, "down", delivery="d")
    seen = []
    for _ in waits:
        row = await stores[0].outbox_get("d")
        assert row is not None
        seen.append(round((row.due_at - clock.now).total_seconds(), 1))
        clock.now = row.due_at
        await box.deliver_due()
    assert seen == pytest.approx(waits, abs=0.01)


async def test_slacks_retry_after_is_honoured(
    slack: FakeSlackApi, stores: list[SqliteStore]
) -> None:
    clock = Clock()
    box = outbox(slack, stores[0], clock)
    slack.fail_next("chat.postMessage", 429, retry_after=30)
    sent = await box.post(CHANNEL, "slow down", delivery="d")
    assert sent.queued and sent.retry_after == 30
    row = await stores[0].outbox_get("d")
    assert row is not None and row.due_at == clock.now + timedelta(seconds=30)
    clock.advance(29)
    assert await box.deliver_due() == 0
    clock.advance(1)
    assert await box.deliver_due() == 1


async def test_refused_or_no_longer_relevant_is_dropped(
    slack: FakeSlackApi, stores: list[SqliteStore], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    box = outbox(slack, stores[0], clock)
    slack.fail_next("chat.postMessage", error="channel_not_found")
    refused = await box.post(CHANNEL, "nowhere", delivery="refused")
    assert refused.refused and not refused.queued

    slack.set_down(True)
    await box.post(CHANNEL, "too late", delivery="stale")
    clock.advance(3600)
    await box.deliver_due()

    for delivery, why in (("refused", "channel_not_found"), ("stale", "no longer relevant")):
        row = await stores[0].outbox_get(delivery)
        assert row is not None and row.state == "dropped" and why in row.error
        assert any(delivery in r.message and r.levelname == "ERROR" for r in caplog.records)
    assert await stores[0].outbox_due(clock.now + timedelta(days=1), 10) == []


async def test_two_replicas_post_a_due_delivery_once(
    slack: FakeSlackApi, stores: list[SqliteStore]
) -> None:
    clock = Clock()
    boxes = [outbox(slack, store, clock) for store in stores]
    slack.set_down(True)
    for n in range(10):
        await boxes[0].post(CHANNEL, f"message {n}", delivery=f"d{n}")
    slack.set_down(False)
    clock.advance(5)

    sent = await asyncio.gather(*(box.deliver_due() for box in boxes * 2))

    assert sum(sent) == 10
    texts = sorted(m.text for m in slack.messages(CHANNEL))
    assert texts == sorted(f"message {n}" for n in range(10))


async def test_a_reply_waits_for_its_thread_and_goes_into_it(
    slack: FakeSlackApi, stores: list[SqliteStore]
) -> None:
    clock = Clock()
    box = outbox(slack, stores[0], clock)
    slack.set_down(True)
    await box.post(CHANNEL, "the root", delivery="root:k")
    slack.set_down(False)
    reply = await box.post(CHANNEL, "Resolved after 30m", after="root:k")
    assert reply.queued and slack.messages(CHANNEL) == []  # not before its root

    clock.advance(1)
    await box.deliver_due()
    clock.advance(1)
    await box.deliver_due()

    [root] = slack.messages(CHANNEL)
    assert root.text == "the root"
    assert [m.text for m in slack.thread(CHANNEL, root.ts)] == ["Resolved after 30m"]


async def test_a_try_cut_short_by_a_crash_is_found_in_the_channel_not_repeated(
    slack: FakeSlackApi, stores: list[SqliteStore]
) -> None:
    clock = Clock()
    crashed = outbox(slack, stores[0], clock)
    slack.set_down(True)
    await crashed.post(CHANNEL, "the root", delivery="root:crash")
    slack.set_down(False)
    # Its next try: the process claims the delivery, Slack takes the post, the process dies.
    row = await stores[0].outbox_get("root:crash")
    assert row is not None
    clock.now = row.due_at
    assert await stores[0].outbox_claim("root:crash", "crashed", TIMINGS.lease, clock.now)
    client = AsyncWebClient(token="xoxb-outbox", base_url=slack.base_url)
    landed = await SlackSender(client, Metrics()).post(CHANNEL, "the root", delivery="root:crash")

    clock.advance(31)  # its claim runs out; another process takes the delivery ...
    other = outbox(slack, stores[1], clock)
    slack.fail_next("conversations.history", 500)
    assert await other.deliver_due() == 0  # ... and, unable to look for it, does not post it
    assert len(slack.messages(CHANNEL)) == 1
    clock.advance(5)
    assert await other.deliver_due() == 1  # found this time: adopted

    assert [m.ts for m in slack.messages(CHANNEL)] == [landed.ts]
    assert slack.calls_to("conversations.history"), "looked for before posting again"
    row = await stores[1].outbox_get("root:crash")
    assert row is not None and (row.state, row.ts) == ("sent", landed.ts)


async def test_who_queued_a_post_is_told_when_it_is_sent_late_and_how_late(
    slack: FakeSlackApi, stores: list[SqliteStore]
) -> None:
    clock = Clock()
    box = outbox(slack, stores[0], clock)
    told: list[tuple[Mapping[str, str], str]] = []

    async def hook(about: Mapping[str, str], ts: str) -> None:
        told.append((about, ts))

    box.on_sent("root", hook)
    await box.post(CHANNEL, "at once", about={"kind": "root"}, delivery="now")
    slack.set_down(True)
    await box.post(CHANNEL, "late", [{"type": "section"}], about={"kind": "root"}, delivery="l")
    slack.set_down(False)
    clock.advance(2 * 3600 + 5 * 60)
    await box.deliver_due()
    await box.settle()

    late = slack.messages(CHANNEL)[1]
    assert told == [({"kind": "root"}, late.ts)]  # not the one Slack took at once
    note = "Posted 2 h 5 m late: Slack was unreachable."
    assert late.blocks[-1]["elements"][0]["text"].endswith(note)
    assert await box.late_note("l") == note and await box.late_note("now") == ""


async def test_a_try_that_would_outlast_its_claim_is_cut_short_and_looked_for_next(
    slack: FakeSlackApi, stores: list[SqliteStore]
) -> None:
    clock = Clock()
    client = AsyncWebClient(token="xoxb-outbox", base_url=slack.base_url)
    sender = SlackSender(client, Metrics(), posts=ChannelPacer(rate=1000.0, burst=100))
    short = Timings(lease=timedelta(seconds=0.5), outbox_backoff=timedelta(seconds=1))
    box = Outbox(stores[0], sender, Metrics(), "test", clock, short, jitter=lambda: 0.0)
    slack.hold("chat.postMessage")  # Slack takes the post and does not answer

    sent = await box.post(CHANNEL, "the root", delivery="root:slow")

    assert sent.queued, "cut short before its claim ran out: no other sender overlaps it"
    slack.release("chat.postMessage")
    await slack.wait_for("chat.postMessage")  # the held post lands after all
    clock.advance(1)
    assert await box.deliver_due() == 1
    assert len(slack.messages(CHANNEL)) == 1
    row = await stores[0].outbox_get("root:slow")
    assert row is not None and row.ts == slack.messages(CHANNEL)[0].ts
