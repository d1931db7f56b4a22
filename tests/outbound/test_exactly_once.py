"""A post whose outcome is unknown is looked up before it is repeated: the Slack stand-in over
real HTTP takes the post and answers after the client gave up (or drops the connection), and
the channel holds exactly one message, which the sender adopts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.config import Settings
from bot.demo.slack_api import FakeSlackApi
from bot.metrics import Metrics
from bot.outbound.client import make_web_client
from bot.outbound.pacing import ChannelPacer
from bot.outbound.sender import METADATA_TYPE, SlackSender

CHANNEL = "C0ONCE"
TIMEOUT = timedelta(seconds=1)  # the client's smallest timeout: slack_sdk takes whole seconds


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(token="xoxb-once") as fake:
        yield fake


def sender_for(slack: FakeSlackApi) -> SlackSender:
    client = make_web_client(
        Settings(slack_api_url=slack.base_url), timeout=TIMEOUT, backoff=timedelta(seconds=0.01)
    )
    client.token = "xoxb-once"
    return SlackSender(client, Metrics(), posts=ChannelPacer(rate=1000.0, burst=100))


async def test_every_post_says_what_it_is_in_its_metadata(slack: FakeSlackApi) -> None:
    sender = sender_for(slack)
    sent = await sender.post(CHANNEL, "root", about={"kind": "root", "incident": "a/b/c"})
    metadata = slack.calls_to("chat.postMessage")[0].args["metadata"]
    assert metadata["event_type"] == METADATA_TYPE
    payload = metadata["event_payload"]
    assert payload["kind"] == "root" and payload["incident"] == "a/b/c" and payload["delivery"]
    found = await sender.find(CHANNEL, payload["delivery"])
    assert found is not None and found.ts == sent.ts


async def test_a_post_answered_after_the_timeout_is_adopted_not_repeated(
    slack: FakeSlackApi,
) -> None:
    sender = sender_for(slack)
    slack.answer_late("chat.postMessage", 2.5)  # stored at once, answered after the timeout
    sent = await sender.post(CHANNEL, "the root", about={"kind": "root"})

    assert sent.ok and sent.adopted
    assert [m.text for m in slack.messages(CHANNEL)] == ["the root"], "exactly one root"
    assert sent.ts == slack.messages(CHANNEL)[0].ts
    history = slack.calls_to("conversations.history")
    assert history and history[0].args["include_all_metadata"] == "true"
    reply = await sender.post(CHANNEL, "in the thread", thread_ts=sent.ts)
    assert reply.ok and [m.text for m in slack.thread(CHANNEL, sent.ts)] == ["in the thread"]


async def test_a_thread_reply_whose_connection_dropped_is_found_in_the_thread(
    slack: FakeSlackApi,
) -> None:
    sender = sender_for(slack)
    root = await sender.post(CHANNEL, "root")
    slack.drop_answer("chat.postMessage")
    reply = await sender.post(CHANNEL, "the run", thread_ts=root.ts, about={"run_id": "r1"})

    assert reply.ok and reply.adopted
    assert [m.text for m in slack.thread(CHANNEL, root.ts)] == ["the run"], "not re-sent"
    assert len(slack.calls_to("chat.postMessage")) == 2, "the client did not re-send the post"
    assert slack.calls_to("conversations.replies")[0].args["ts"] == root.ts


async def test_a_post_that_never_landed_is_looked_for_then_posted_by_the_next_try(
    slack: FakeSlackApi,
) -> None:
    sender = sender_for(slack)
    slack.hold("chat.postMessage")  # no answer and nothing stored: the client times out
    try:
        first = await sender.post(CHANNEL, "root", delivery="root:a/b/c@1")
        assert not first.ok and first.uncertain
        assert slack.messages(CHANNEL) == [], "looked up: not there"
    finally:
        slack.release("chat.postMessage")  # the held request lands now, late
    await slack.wait_for(lambda call: call.method == "chat.postMessage" and call.ok)

    again = await sender.post(CHANNEL, "root", delivery="root:a/b/c@1")
    assert again.ok and again.adopted, "the late landing is found before posting again"
    assert [m.text for m in slack.messages(CHANNEL)] == ["root"]
    assert len(slack.calls_to("chat.postMessage")) == 1
