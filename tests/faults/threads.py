"""What the fault tests read back from Slack: every accepted alarm once, as a root of its own,
with its playbook's run final in its thread."""

from __future__ import annotations

import asyncio
import time

from bot.demo.slack_api import FakeSlackApi, SlackMessage


def roots(slack: FakeSlackApi, channel: str, name: str) -> list[SlackMessage]:
    """The roots posted in ``channel`` for the alarm ``name``."""
    return [m for m in slack.messages(channel) if f"ALARM: {name}" in m.text]


def final_runs(slack: FakeSlackApi, root: SlackMessage) -> list[SlackMessage]:
    """The run messages in the root's thread that show a finished run."""

    def is_run(message: SlackMessage) -> bool:
        payload = (message.metadata or {}).get("event_payload") or {}
        return payload.get("kind") == "run"

    thread = slack.thread(root.channel, root.ts)
    return [m for m in thread if is_run(m) and "running (" not in m.text]


async def each_once_with_its_result(
    slack: FakeSlackApi, channel: str, names: list[str], timeout: float = 60
) -> dict[str, SlackMessage]:
    """Every alarm of ``names`` in ``channel`` exactly once, its run final in its thread, once
    (waited for: the bot may still be working through them); each alarm's final run."""

    def settled() -> bool:
        found = [roots(slack, channel, name) for name in names]
        return all(len(r) == 1 and final_runs(slack, r[0]) for r in found)

    deadline = time.monotonic() + timeout
    while not settled():
        assert time.monotonic() < deadline, slack.transcript(channel)
        await asyncio.sleep(0.1)
    runs = {}
    for name in names:
        [root] = roots(slack, channel, name)
        [runs[name]] = final_runs(slack, root)
    return runs
