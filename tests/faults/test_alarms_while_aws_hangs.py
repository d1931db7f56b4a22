"""Alarms while AWS is a black hole (it accepts connections and never answers): each alarm is
in Slack once, its playbook's result final and saying which calls got no answer; once AWS is
back, the next alarm's run succeeds at once. A real ``triagebot serve`` process, signed SNS
alarms over HTTP, the Slack stand-in, and a loopback endpoint in front of moto."""

from __future__ import annotations

import os
from pathlib import Path

from bot.demo.slack_api import FakeSlackApi
from tests.faults.threads import each_once_with_its_result, roots
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
        hung = (await each_once_with_its_result(slack, CHANNEL, ["bh-checkout-5xx"]))[
            "bh-checkout-5xx"
        ]
        shown = "\n".join(str(b) for b in hung.blocks)
        assert shown.count("timed out after 2s") == 2 and "2 timeouts" in shown, shown

        hung_aws.recover()
        assert await post_alarm(server.url, "bh-search-5xx") == 200
        recovered = (await each_once_with_its_result(slack, CHANNEL, ["bh-search-5xx"]))[
            "bh-search-5xx"
        ]
        shown = "\n".join(str(b) for b in recovered.blocks)
        assert "timed out" not in shown and "123456789012" in shown, shown
        assert len(roots(slack, CHANNEL, "bh-checkout-5xx")) == 1
    finally:
        server.stop()
