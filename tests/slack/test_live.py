"""The live run message against the fake Slack: snapshots paced, none lost, final at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.slack_api import FakeSlackApi
from bot.metrics import Metrics
from bot.outbound.live import LiveMessage
from bot.outbound.sender import SlackSender
from bot.results import RunResult, Status, StepResult
from tests.render.runs import make_run

CHANNEL = "C0LIVE"
INTERVAL = timedelta(seconds=0.3)  # the edit interval (a second in production)


def snapshot(*statuses: Status, finished: bool = False) -> RunResult:
    steps = [
        StepResult(step_id=f"s{i}", uses="sts.caller_identity", status=s)
        for i, s in enumerate(statuses)
    ]
    return make_run(steps, finished=finished)


class RacingMessage(LiveMessage):
    """A snapshot arrives while the previous one is being shown."""

    def __init__(self, *args: Any, during_edit: RunResult, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._during_edit: RunResult | None = during_edit

    async def _edit(self, run: RunResult, *, buttons: bool, likely: Sequence[str] = ()) -> None:
        if self._during_edit is not None:
            newer, self._during_edit = self._during_edit, None
            await self.show(newer)
        await super()._edit(run, buttons=buttons, likely=likely)


async def test_a_snapshot_arriving_during_an_edit_is_shown_before_the_run_ends() -> None:
    async with FakeSlackApi() as slack:
        client = AsyncWebClient(token="xoxb-live", base_url=slack.base_url)
        newer = snapshot(Status.OK, Status.OK)
        message = RacingMessage(
            SlackSender(client, Metrics()),
            CHANNEL,
            during_edit=newer,
            edit_interval=timedelta(seconds=0.05),
        )
        await message.post(snapshot(Status.PENDING, Status.PENDING))
        await message.show(snapshot(Status.OK, Status.RUNNING))

        await slack.wait_for(
            lambda c: c.method == "chat.update" and "✅ *s1*" in str(c.args), timeout=5
        )
        await message.finish(snapshot(Status.OK, Status.OK, finished=True))

        [posted] = slack.messages(CHANNEL)
        assert len(posted.edits) == 3  # the first version, then two snapshots; the final is current
        assert any(b.get("type") == "actions" for b in posted.blocks)


async def test_a_snapshot_still_waiting_when_the_run_finishes_is_dropped() -> None:
    async with FakeSlackApi() as slack:
        client = AsyncWebClient(token="xoxb-live", base_url=slack.base_url)
        interval = timedelta(seconds=2)  # long enough to tell "at once" on a loaded machine
        message = LiveMessage(SlackSender(client, Metrics()), CHANNEL, edit_interval=interval)
        await message.post(snapshot(Status.PENDING))
        loop = asyncio.get_running_loop()
        started = loop.time()
        await message.show(snapshot(Status.RUNNING))  # due an interval after the post
        await message.finish(snapshot(Status.OK, finished=True))
        assert loop.time() - started < interval.total_seconds(), "the final version went at once"
        await asyncio.sleep(interval.total_seconds() + 0.1)  # past the dropped snapshot's turn

        assert len(slack.calls_to("chat.update")) == 1, "only the final version"
        [posted] = slack.messages(CHANNEL)
        assert any(b.get("type") == "actions" for b in posted.blocks)
