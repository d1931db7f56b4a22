"""Slack's limits hold for the fleet: three replicas' senders on one DynamoDB store edit from one
workspace budget and post to a channel at one pace, where each on its own would go three times
as fast; and the latest content of a message still wins while its edit waits for the fleet.

Each "replica" is a ``SlackSender`` with its own store client of one table (moto server, its
writes atomic) and its own ``FleetRateLimits``, all posting to the local Slack stand-in. The
budgets are Slack's shape at a faster rate (Slack: ``chat.update`` 50 a minute, posts one a
second per channel), so that the test takes seconds. What is measured is when each call was
answered: a loaded machine can only spread those out, never bunch them past a budget.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta

import pytest

from bot.aws import AwsClients
from bot.config import AwsSettings, Settings
from bot.demo.slack_api import FakeSlackApi
from bot.metrics import Metrics
from bot.outbound.client import make_web_client
from bot.outbound.pacing import ChannelPacer, workspace_edits
from bot.outbound.sender import Sent, SlackSender
from bot.rate_limits import FleetRateLimits
from bot.store.dynamodb import DynamoDbStore
from tests.support.atomic_moto import atomic_moto

REPLICAS = 3
RATE = 10.0  # calls a second, for the workspace's edits and for one channel's posts
BURST = 2
CALLS = 8  # per replica: 24 in all, at least (24 - BURST) / RATE = 2.2 s for the fleet
SPAN_AT_LEAST = 1.4  # below the fleet's 2.2 s, well above the 0.6 s of three budgets of their own
IN_ONE_SECOND_AT_MOST = 20  # the budget lets 12 through in a second; three budgets all 24


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        yield api


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    with atomic_moto() as moto:
        yield moto.url


@pytest.fixture
async def stores(moto_server: str) -> AsyncIterator[list[DynamoDbStore]]:
    """Three replicas' clients of one table (a table for each test)."""
    clients = [
        AwsClients(AwsSettings(region="us-east-1"), endpoint_url=moto_server)
        for _ in range(REPLICAS)
    ]
    table = f"triagebot-{uuid.uuid4().hex[:8]}"
    opened = [DynamoDbStore(aws, table) for aws in clients]
    for store in opened:
        await store.start()  # the first creates the table
    yield opened
    for store, aws in zip(opened, clients, strict=True):
        await store.close()
        aws.close()


def replica_sender(slack: FakeSlackApi, store: DynamoDbStore, rate: float = RATE) -> SlackSender:
    """A sender as ``build_app`` makes it on a shared store."""
    shared = FleetRateLimits(store).acquire
    client = make_web_client(
        Settings(slack_api_url=slack.base_url),
        timeout=timedelta(seconds=10),
        backoff=timedelta(seconds=0.01),
    )
    client.token = "xoxb-fleet"
    return SlackSender(
        client,
        Metrics(),
        posts=ChannelPacer(rate=rate, burst=BURST, shared=shared),
        edits=workspace_edits(shared, rate * 60, BURST),
    )


async def answered_at(calls: list[Callable[[], Awaitable[Sent]]]) -> list[float]:
    """Make the calls at once; when each was answered, in order (each must be ok)."""
    loop = asyncio.get_running_loop()

    async def timed(call: Callable[[], Awaitable[Sent]]) -> float:
        sent = await call()
        assert sent.ok, sent.error
        return loop.time()

    return sorted(await asyncio.gather(*(timed(call) for call in calls)))


def text_of(slack: FakeSlackApi, channel: str, ts: str) -> str:
    message = slack.message(channel, ts)
    assert message is not None
    return message.text


def assert_within_one_budget(times: list[float], what: str) -> None:
    """The calls answered at ``times`` took as long as one budget for all of them takes, and
    no second saw more than it lets through (give or take a loaded machine's bunching)."""
    span = times[-1] - times[0]
    most = max(sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times))
    assert span >= SPAN_AT_LEAST, f"{len(times)} {what} in {span:.2f} s"
    assert most <= IN_ONE_SECOND_AT_MOST, f"{most} {what} in one second"


async def test_three_replicas_edit_from_one_workspace_budget(
    slack: FakeSlackApi, stores: list[DynamoDbStore]
) -> None:
    senders = [replica_sender(slack, store) for store in stores]
    messages = []  # each edit is of a message of its own: none replaces another
    for r, sender in enumerate(senders):
        for i in range(CALLS):
            channel = f"C{r}X{i}"  # a channel each: the posts do not wait on one another
            messages.append((sender, channel, (await sender.post(channel, "before")).ts))

    times = await answered_at(
        [
            lambda s=sender, c=channel, ts=ts: s.update(c, ts, "after")
            for sender, channel, ts in messages
        ]
    )

    assert len(slack.calls_to("chat.update")) == REPLICAS * CALLS
    assert [text_of(slack, c, ts) for _, c, ts in messages] == ["after"] * REPLICAS * CALLS
    assert_within_one_budget(times, "edits")


async def test_three_replicas_post_to_a_channel_at_one_pace(
    slack: FakeSlackApi, stores: list[DynamoDbStore]
) -> None:
    senders = [replica_sender(slack, store) for store in stores]
    times = await answered_at(
        [
            lambda s=sender, n=n: s.post("C0ONE", f"post {n}")
            for sender in senders
            for n in range(CALLS)
        ]
    )

    assert len(slack.messages("C0ONE")) == REPLICAS * CALLS
    assert_within_one_budget(times, "posts")


async def test_an_edit_waiting_for_the_fleet_is_replaced_by_a_newer_one(
    slack: FakeSlackApi, stores: list[DynamoDbStore]
) -> None:
    """The budget is the fleet's; which content goes out when the turn comes stays local."""
    first, other = (replica_sender(slack, store, rate=1.0) for store in stores[:2])
    ts = (await first.post("C0LIVE", "v0")).ts
    for n in range(BURST):  # another replica spends the burst: the next edit waits its turn
        assert (await other.update("C0LIVE", ts, f"other {n}")).ok
    waiting = asyncio.ensure_future(first.update("C0LIVE", ts, "v1"))
    await asyncio.sleep(0)  # it holds the message's turn, waiting for a token
    newer = [first.update("C0LIVE", ts, text) for text in ("v2", "v3")]
    answers = await asyncio.gather(waiting, *newer)

    assert [call.args["text"] for call in slack.calls_to("chat.update")] == [
        "other 0",
        "other 1",
        "v3",
    ]
    assert all(sent.ok and sent.ts == ts for sent in answers)
    assert text_of(slack, "C0LIVE", ts) == "v3"
