"""A run's final version reaches Slack: retried past the client's own tries, posted when the
first post never made it, kept in the outbox (a real SQLite file) however long Slack is down,
and its caller told when Slack would not take it (the Slack stand-in over real HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.demo.slack_api import FakeSlackApi
from bot.metrics import Metrics
from bot.outbound.client import make_web_client
from bot.outbound.live import LiveMessage
from bot.outbound.outbox import Outbox
from bot.outbound.pacing import ChannelPacer
from bot.outbound.sender import SlackSender
from bot.results import RunResult, Status, StepResult
from bot.store import SqliteStore

CHANNEL = "C0FINAL"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


def live_for(
    slack: FakeSlackApi, *, user: str = "U0ASKER", outbox: Outbox | None = None
) -> LiveMessage:
    client = make_web_client(
        Settings(slack_api_url=slack.base_url),
        timeout=timedelta(seconds=1),
        backoff=timedelta(seconds=0.01),
    )
    client.token = "xoxb-final"
    sender = SlackSender(client, Metrics(), posts=ChannelPacer(rate=1000.0, burst=100))
    return LiveMessage(
        sender,
        CHANNEL,
        requested_by=user,
        edit_interval=timedelta(0),
        final_retry=timedelta(seconds=5),
        retry_every=timedelta(seconds=0.05),
        outbox=outbox,
    )


def run(status: Status, *, done: bool) -> RunResult:
    return RunResult(
        run_id="r0final",
        playbook="whoami",
        title="Who am I",
        params={},
        steps=(StepResult(step_id="whoami", uses="sts.caller_identity", status=status),),
        started_at=NOW,
        finished_at=NOW if done else None,
        requested_by="U0ASKER",
    )


async def test_the_final_edit_is_retried_until_slack_takes_it(slack: FakeSlackApi) -> None:
    live = live_for(slack)
    ts = await live.post(run(Status.PENDING, done=False))
    slack.fail_next("chat.update", status=500, times=6)  # the client's own tries, twice over

    assert await live.finish(run(Status.OK, done=True))

    assert ts is not None
    message = slack.message(CHANNEL, ts)
    assert message is not None and "running" not in message.text, message.text
    assert len(slack.calls_to("chat.update")) == 7


async def test_a_first_post_that_failed_is_made_by_the_final_version(slack: FakeSlackApi) -> None:
    live = live_for(slack)
    slack.fail_next("chat.postMessage", status=500, times=3)
    assert await live.post(run(Status.PENDING, done=False)) is None

    assert await live.finish(run(Status.OK, done=True))

    [message] = slack.messages(CHANNEL)
    assert message.ts == live.ts and "running" not in message.text, message.text
    assert slack.calls_to("chat.update") == [], "posted final, not edited"


async def test_a_caller_whose_result_slack_refused_is_told(slack: FakeSlackApi) -> None:
    live = live_for(slack)
    slack.fail_next("chat.postMessage", error="not_in_channel", times=2)
    await live.post(run(Status.PENDING, done=False))

    assert not await live.finish(run(Status.OK, done=True))

    assert slack.messages(CHANNEL) == []
    [told] = slack.ephemerals
    assert told.user == "U0ASKER" and "could not be posted" in told.text


async def test_a_caller_is_told_once_slack_answers_again(slack: FakeSlackApi) -> None:
    live = live_for(slack)
    slack.fail_next("chat.postMessage", error="not_in_channel", times=2)
    slack.fail_next("chat.postEphemeral", status=503, times=6)  # Slack down for a while
    await live.post(run(Status.PENDING, done=False))

    assert not await live.finish(run(Status.OK, done=True))

    [told] = slack.ephemerals
    assert "could not be posted" in told.text


class Later:
    """A clock the test moves: an hour of Slack outage in no time."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    await s.start()
    yield s
    await s.close()


@pytest.mark.parametrize("first_post", ["made", "failed"])
async def test_a_final_version_slack_did_not_take_for_an_hour_arrives_from_the_outbox(
    slack: FakeSlackApi, store: SqliteStore, first_post: str
) -> None:
    clock = Later()
    client = make_web_client(Settings(slack_api_url=slack.base_url), backoff=timedelta(0))
    client.token = "xoxb-final"
    box = Outbox(store, SlackSender(client, Metrics()), Metrics(), "test", clock)
    live = live_for(slack, outbox=box)
    slack.set_down(first_post == "failed")
    await live.post(run(Status.PENDING, done=False))
    slack.set_down(True)

    assert await live.finish(run(Status.OK, done=True)), "kept: it will arrive"
    assert all("running" in m.text for m in slack.messages(CHANNEL))

    slack.set_down(False)
    clock.now += timedelta(hours=1)
    assert await box.deliver_due() == 1

    [message] = slack.messages(CHANNEL)
    assert "running" not in message.text, message.text
    assert "Posted 1 h 0 m late: Slack was unreachable." in str(message.blocks)
    assert slack.ephemerals == []
