"""Alarms while AWS is a black hole (it accepts connections and never answers): each alarm is
in Slack once, its playbook's result final and saying which calls got no answer; once AWS is
back, the next alarm's run succeeds at once. A real ``triagebot serve`` process, signed SNS
alarms over HTTP, the Slack stand-in, and a loopback endpoint in front of moto."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.demo.slack_api import FakeSlackApi, SlackMessage
from tests.support.bot_serve import post_alarm
from tests.support.hung_aws import HungAws
from tests.support.serve_process import ServeProcess, serve_config

CHANNEL = "C0BLACKHOLE"
PROBE = """name: probe
description: Who the bot is and what is firing, each step with a short timeout.
timeout: 20s
steps:
  - id: me
    uses: sts.caller_identity
    timeout: 2s
  - id: firing
    uses: cloudwatch.alarms
    timeout: 2s
"""


@pytest.fixture
def hung_aws(moto_url: str) -> Iterator[HungAws]:
    server = HungAws(moto_url)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


def roots(slack: FakeSlackApi, name: str) -> list[SlackMessage]:
    return [m for m in slack.messages(CHANNEL) if f"ALARM: {name}" in m.text]


def final_runs(slack: FakeSlackApi, root: SlackMessage) -> list[SlackMessage]:
    def is_run(message: SlackMessage) -> bool:
        payload = (message.metadata or {}).get("event_payload") or {}
        return payload.get("kind") == "run"

    return [m for m in slack.thread(CHANNEL, root.ts) if is_run(m) and "running (" not in m.text]


async def one_root_with_a_final_run(slack: FakeSlackApi, name: str) -> SlackMessage:
    """The alarm's one root once its run in the thread is final (waited for); that run."""
    deadline = time.monotonic() + 60
    while not (len(roots(slack, name)) == 1 and final_runs(slack, roots(slack, name)[0])):
        assert time.monotonic() < deadline, slack.transcript(CHANNEL)
        await asyncio.sleep(0.1)
    [root] = roots(slack, name)
    [run] = final_runs(slack, root)
    return run


async def test_an_alarm_while_aws_hangs_is_posted_once_with_a_final_result(
    hung_aws: HungAws, slack: FakeSlackApi, tmp_path: Path
) -> None:
    books = tmp_path / "playbooks"
    books.mkdir()
    (books / "probe.yaml").write_text(PROBE)
    routes = f'[playbooks]\ndirs = ["{books}"]\n[[routes]]\nmatch = {{ alarm_name = "bh-*" }}\n'
    config, port = serve_config(tmp_path, channel=CHANNEL, extra=routes + 'playbook = "probe"\n')
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-black-hole",
        "SLACK_SIGNING_SECRET": "black-hole-secret",
        "SLACK_API_URL": slack.base_url,
        "AWS_ENDPOINT_URL": hung_aws.url,
    }
    server = ServeProcess(config, port, env, tmp_path / "serve.log")
    await server.start()
    try:
        assert await post_alarm(server.url, "bh-checkout-5xx") == 200
        hung = await one_root_with_a_final_run(slack, "bh-checkout-5xx")
        shown = "\n".join(str(b) for b in hung.blocks)
        assert shown.count("timed out after 2s") == 2 and "2 timeouts" in shown, shown

        hung_aws.recover()
        assert await post_alarm(server.url, "bh-search-5xx") == 200
        recovered = await one_root_with_a_final_run(slack, "bh-search-5xx")
        shown = "\n".join(str(b) for b in recovered.blocks)
        assert "timed out" not in shown and "123456789012" in shown, shown
        assert len(roots(slack, "bh-checkout-5xx")) == 1
    finally:
        server.stop()
