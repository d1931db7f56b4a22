"""The one Slack sender against the fake Slack Web API over HTTP: edits from a workspace budget
where the latest content wins, posts paced per channel, one failure policy, every method
counted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.demo.slack_api import FakeSlackApi
from bot.metrics import Metrics
from bot.outbound.client import make_web_client
from bot.outbound.pacing import ChannelPacer
from bot.outbound.sender import SlackRefused, SlackSender
from bot.timings import Timings

CHANNEL = "C0SEND"


@dataclass
class Parts:
    slack: FakeSlackApi
    client: AsyncWebClient
    metrics: Metrics

    def sender(self, *, edits_per_minute: float = 60_000.0, edit_burst: int = 100) -> SlackSender:
        return SlackSender(
            self.client,
            self.metrics,
            posts=ChannelPacer(rate=1000.0, burst=100),
            edits_per_minute=edits_per_minute,
            edit_burst=edit_burst,
        )

    def calls(self, method: str, outcome: str) -> float:
        labels = {"method": method, "outcome": outcome}
        value = self.metrics.registry.get_sample_value("triagebot_slack_calls_total", labels)
        return value or 0.0

    def errors(self) -> float:
        value = self.metrics.registry.get_sample_value("triagebot_errors_total", {"kind": "slack"})
        return value or 0.0


@pytest.fixture
async def parts() -> AsyncIterator[Parts]:
    async with FakeSlackApi(usergroups={"S0ONCALL": ["U0ONE", "U0TWO"]}) as slack:
        yield Parts(slack, AsyncWebClient(token="xoxb-send", base_url=slack.base_url), Metrics())


async def test_an_edit_waiting_for_the_budget_is_replaced_by_the_newest(parts: Parts) -> None:
    # One edit a second, none saved up: the first goes at once, the rest wait a second.
    sender = parts.sender(edits_per_minute=60.0, edit_burst=1)
    posted = await sender.post(CHANNEL, "v0")
    first = await sender.update(CHANNEL, posted.ts, "v1")
    assert first.ok
    waiting = [asyncio.create_task(sender.update(CHANNEL, posted.ts, f"v{i}")) for i in (2, 3, 4)]
    results = await asyncio.gather(*waiting)

    sent = [call.args["text"] for call in parts.slack.calls_to("chat.update")]
    assert sent == ["v1", "v4"], "v2 and v3 were superseded while waiting: never sent"
    assert all(r.ok for r in results), "whoever asked for a replaced edit hears it went out"
    message = parts.slack.message(CHANNEL, posted.ts)
    assert message is not None and message.text == "v4"
    assert parts.calls("chat.update", "ok") == 2


async def test_edits_of_different_messages_share_one_workspace_budget(parts: Parts) -> None:
    sender = parts.sender(edits_per_minute=1200.0, edit_burst=1)  # 20 a second
    posts = [await sender.post(CHANNEL, f"m{i}") for i in range(6)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(sender.update(CHANNEL, p.ts, "edited") for p in posts))
    took = loop.time() - started
    assert len(parts.slack.calls_to("chat.update")) == 6, "different messages: nothing replaced"
    assert took >= 5 / 20 - 0.02, f"six edits with one token saved and 20/s took {took:.3f} s"


async def test_edits_of_one_message_reach_slack_in_the_order_asked(parts: Parts) -> None:
    sender = parts.sender()
    posted = await sender.post(CHANNEL, "v0")
    for i in range(1, 6):
        await sender.update(CHANNEL, posted.ts, f"v{i}")
    assert [c.args["text"] for c in parts.slack.calls_to("chat.update")] == [
        f"v{i}" for i in range(1, 6)
    ]


async def test_posts_wait_for_their_channel_not_for_others(parts: Parts) -> None:
    sender = SlackSender(parts.client, parts.metrics, posts=ChannelPacer(rate=1.0, burst=1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(sender.post("C0ONE", "a"), sender.post("C0TWO", "b"))
    assert loop.time() - started < 0.9, "two channels: neither waited a second for the other"
    await asyncio.gather(*(sender.post("C0ONE", str(i)) for i in range(2)))
    assert loop.time() - started >= 2 - 0.02, "one channel: one post a second"
    assert [m.text for m in parts.slack.messages("C0ONE")] == ["a", "0", "1"]


async def test_a_failure_is_answered_logged_once_and_counted(
    parts: Parts, caplog: pytest.LogCaptureFixture
) -> None:
    sender = parts.sender()
    parts.slack.fail_next("chat.postMessage", error="not_in_channel")
    with caplog.at_level(logging.ERROR, logger="bot.outbound.sender"):
        sent = await sender.post(CHANNEL, "hello")
    assert not sent.ok and sent.error == "not_in_channel"
    assert [r.getMessage() for r in caplog.records] == [
        "Slack chat.postMessage failed for channel C0SEND: not_in_channel"
    ]
    assert parts.calls("chat.postMessage", "error") == 1
    assert parts.errors() == 1
    with pytest.raises(SlackRefused) as refused:
        sent.check("the digest")
    assert refused.value.user_message == "Slack did not take the digest: not_in_channel"


async def test_a_stale_view_update_is_an_expected_answer_not_an_error(parts: Parts) -> None:
    sender = parts.sender()
    trigger = "111.222.valid"
    opened = await sender.open_view(
        trigger, {"type": "modal", "title": {"type": "plain_text", "text": "a"}, "blocks": []}
    )
    assert opened.ok
    view = opened.data["view"]
    parts.slack.fail_next("views.update", error="hash_conflict")
    stale = await sender.update_view(str(view["id"]), view, view_hash="old")
    assert not stale.ok and stale.error == "hash_conflict"
    assert parts.calls("views.update", "error") == 1
    assert parts.errors() == 0


async def test_every_method_the_bot_uses_is_counted(parts: Parts) -> None:
    sender = parts.sender()
    posted = await sender.post(CHANNEL, "root")
    await sender.update(CHANNEL, posted.ts, "root, edited")
    await sender.ephemeral(CHANNEL, "U0ONE", "only you")
    await sender.upload(
        CHANNEL, content="full output", filename="out.txt", title="out", thread_ts=posted.ts
    )
    view = {"type": "modal", "title": {"type": "plain_text", "text": "a"}, "blocks": []}
    opened = await sender.open_view("111.222.valid", view)
    await sender.update_view(str(opened.data["view"]["id"]), view)
    await sender.push_view("111.333.valid", view)
    assert await sender.usergroup_members("S0ONCALL") == frozenset({"U0ONE", "U0TWO"})

    for method in (
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "files.upload",
        "views.open",
        "views.update",
        "views.push",
        "usergroups.users.list",
    ):
        assert parts.calls(method, "ok") == 1, method
    assert [e.text for e in parts.slack.ephemerals] == ["only you"]
    assert [f.title for f in parts.slack.files.values()] == ["out"]


async def test_a_rate_limited_call_is_retried_by_the_client_after_retry_after(
    parts: Parts,
) -> None:
    settings = Settings(slack_api_url=parts.slack.base_url)
    timings = Timings()
    client = make_web_client(settings, timeout=timings.slack_timeout, backoff=timings.slack_backoff)
    client.token = "xoxb-send"
    sender = SlackSender(client, parts.metrics)
    parts.slack.fail_next("chat.postMessage", status=429, retry_after=0)
    sent = await sender.post(CHANNEL, "after a 429")
    assert sent.ok
    assert [c.status for c in parts.slack.calls_to("chat.postMessage")] == [429, 200]
    assert parts.calls("chat.postMessage", "ok") == 1
