"""Socket Mode end to end: a real ``triagebot serve`` process with ``SLACK_APP_TOKEN``, the Slack
stand-in's WebSocket pushing envelopes, moto server for AWS. No ``/slack/events`` involved.

What a user would notice: commands and buttons acked over the socket within 3 s and their
results in the channel; a refresh or a dropped connection costs nothing but a reconnect; and
``/healthz`` says 503 ``socket: disconnected`` while the bot cannot hear Slack.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.demo.moto_server import free_port
from bot.demo.seed import LB_NAME, seed_incident
from bot.demo.slack_api import FakeSlackApi, SlackCall
from bot.slack.actions import RERUN_ACTION
from bot.slack.modal import CALLBACK_ID, NO_PLAYBOOK, PLAYBOOK_BLOCK
from tests.slack.harness import Harness
from tests.support.serve_process import ServeProcess

CHANNEL = "C0SOCKET"
USER = "U0ONCALL"
BOT_TOKEN = "xoxb-socket-mode-test"
APP_TOKEN = "xapp-1-A0TRIAGE-1-socket-mode-test"
PING_INTERVAL = "1s"  # how soon slack_sdk notices a dead connection (default 10s)
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slack"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def slash_command(text: str) -> dict[str, Any]:
    """The slash_commands payload Slack sends over the socket, from a real envelope."""
    payload = fixture("socket-mode-slash-commands-envelope.json")["payload"]
    return {**payload, "command": "/triage", "text": text, "channel_id": CHANNEL, "user_id": USER}


def rerun_button(run_id: str, message_ts: str) -> dict[str, Any]:
    """A block_actions payload for *Re-run* on the result message, from a real payload."""
    payload = fixture("block-actions-button.payload.json")
    return {
        **payload,
        "user": {**payload["user"], "id": USER},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL},
        "channel": {"id": CHANNEL, "name": "incidents"},
        "message": {"type": "message", "ts": message_ts, "text": ""},
        "actions": [
            {
                **payload["actions"][0],
                "action_id": RERUN_ACTION,
                "block_id": "run",
                "value": run_id,
            }
        ],
    }


def empty_modal_submission() -> dict[str, Any]:
    """The /triage modal submitted without a playbook, from a real view_submission payload."""
    payload = fixture("view-submission.payload.json")
    view = {
        **payload["view"],
        "callback_id": CALLBACK_ID,
        "private_metadata": json.dumps({"channel": CHANNEL}),
        "state": {"values": {}},
    }
    return {**payload, "user": {**payload["user"], "id": USER}, "view": view}


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    fake = FakeSlackApi(token=BOT_TOKEN, app_token=APP_TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def bot(tmp_path: Path, moto_url: str, slack: FakeSlackApi) -> AsyncIterator[ServeProcess]:
    """``triagebot serve`` in Socket Mode: no signing secret, no proxy, the stand-in's API URL."""
    seed_incident(moto_url)
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[slack]
default_channel = "{CHANNEL}"
socket_ping_interval = "{PING_INTERVAL}"
[server]
host = "127.0.0.1"
port = {port}
[store]
url = "sqlite:///{tmp_path / "state.db"}"
"""
    )
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env.pop("SLACK_SIGNING_SECRET", None)
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=slack.base_url,
        AWS_ENDPOINT_URL=moto_url,
        TRIAGEBOT_LOG_LEVEL="INFO",
    )
    process = ServeProcess(config, port, env, tmp_path / "serve.log")
    yield process
    # In a thread: the stand-in shares this event loop and must answer the bot's close frame.
    await asyncio.to_thread(process.stop)


async def health(bot: ServeProcess) -> tuple[int, dict[str, Any]]:
    """``/healthz``'s status and report; (0, {}) while nothing listens yet."""
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{bot.url}/healthz") as response:
            return response.status, await response.json()
    except aiohttp.ClientConnectionError:
        return 0, {}


async def health_reaches(bot: ServeProcess, status: int, timeout: float = 10.0) -> dict[str, Any]:
    """Poll ``/healthz`` until it answers ``status``; the last report."""
    deadline = time.monotonic() + timeout
    while True:
        code, report = await health(bot)
        if code == status:
            return report
        if time.monotonic() > deadline:
            raise TimeoutError(f"/healthz stayed {code} {report}, wanted {status}")
        await asyncio.sleep(0.05)


def is_result(call: SlackCall) -> bool:
    """A post or edit that shows a finished run (it carries the Re-run button)."""
    return (
        call.method in ("chat.postMessage", "chat.update")
        and call.ok
        and RERUN_ACTION in json.dumps(call.args.get("blocks") or [])
    )


def rerun_value(blocks: Any) -> str:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == RERUN_ACTION:
                return str(element["value"])
    raise AssertionError(f"no {RERUN_ACTION} button in {blocks}")


async def run_command(slack: FakeSlackApi, text: str) -> SlackCall:
    """Push ``/triage text``, check the socket ack came within 3 s, wait for the result."""
    since = len(slack.calls)
    envelope_id = await slack.socket.push("slash_commands", slash_command(text))
    ack = await slack.socket.wait_ack(envelope_id, timeout=3.0)
    assert ack.seconds < 3.0 and not ack.payload, ack
    return await slack.wait_for(is_result, timeout=20, since=since)


async def test_commands_buttons_and_modals_arrive_over_the_socket(
    bot: ServeProcess, slack: FakeSlackApi
) -> None:
    await bot.start()
    connection = await slack.socket.wait_connected()
    status, report = await health(bot)
    assert status == 200 and report["socket"] == "connected" and report["status"] == "ok"
    assert slack.calls_to("apps.connections.open")[0].token == APP_TOKEN

    result = await run_command(slack, f"alb-errors load_balancer={LB_NAME}")
    ts = str(result.args.get("ts") or result.response.get("ts"))
    message = slack.message(CHANNEL, ts)
    assert message is not None and message.user == "U0BOT"
    assert "Target.InvalidState" in json.dumps(message.blocks)
    assert f"<@{USER}>" in json.dumps(message.blocks)

    since = len(slack.calls)
    button = await slack.socket.push("interactive", rerun_button(rerun_value(message.blocks), ts))
    ack = await slack.socket.wait_ack(button, timeout=3.0)
    assert ack.seconds < 3.0 and ack.payload is None
    rerun = await slack.wait_for(is_result, timeout=20, since=since)
    assert any(
        reply.ts in (rerun.args.get("ts"), rerun.response.get("ts"))
        for reply in slack.thread(CHANNEL, ts)
    ), slack.transcript(CHANNEL)

    help_id = await slack.socket.push("slash_commands", slash_command("help"))
    answer = (await slack.socket.wait_ack(help_id, timeout=3.0)).payload
    assert answer is not None and answer["response_type"] == "ephemeral"
    assert "alb-errors" in answer["text"]

    submit = await slack.socket.push("interactive", empty_modal_submission())
    errors = (await slack.socket.wait_ack(submit, timeout=3.0)).payload
    assert errors == {"response_action": "errors", "errors": {PLAYBOOK_BLOCK: NO_PLAYBOOK}}

    assert connection.number == 1 and len(slack.socket.connections) == 1
    assert "will be unused" not in bot.log_text()


async def test_reconnects_after_a_refresh_and_after_a_dropped_connection(
    bot: ServeProcess, slack: FakeSlackApi
) -> None:
    await bot.start()
    first = await slack.socket.wait_connected()

    await slack.socket.request_refresh()
    second = await slack.socket.wait_connected(count=2)
    await slack.socket.wait_closed(first)
    help_id = await slack.socket.push("slash_commands", slash_command("help"))
    answer = (await slack.socket.wait_ack(help_id, timeout=3.0)).payload
    assert answer is not None and "alb-errors" in answer["text"]

    slack.socket.refuse(True)  # Slack's socket side is down: reconnecting fails for now
    slack.socket.drop()
    down = await health_reaches(bot, 503)
    assert down["socket"] == "disconnected" and down["status"] == "degraded"
    assert down["store"] == "ok"  # it names what is wrong, and only that

    slack.socket.refuse(False)
    third = await slack.socket.wait_connected(count=3)
    up = await health_reaches(bot, 200)
    assert up["socket"] == "connected"
    assert (second.closed, third.number) == (True, 3)

    result = await run_command(slack, f"alb-errors load_balancer={LB_NAME}")
    assert "Target.InvalidState" in json.dumps(result.args.get("blocks"))


async def test_a_wrong_app_token_is_503_until_stopped(
    bot: ServeProcess, slack: FakeSlackApi
) -> None:
    with bot.log.open("ab") as log:  # started by hand: it never becomes healthy
        bot.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--config", str(bot.config)],
            env={**bot.env, "SLACK_APP_TOKEN": "xapp-1-A0TRIAGE-1-revoked"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    refused = await slack.wait_for("apps.connections.open", timeout=20)
    assert refused.response == {"ok": False, "error": "invalid_auth"}
    report = await health_reaches(bot, 503)
    assert report["socket"] == "disconnected" and report["store"] == "ok"
    assert slack.socket.connections == []

    assert await asyncio.to_thread(bot.stop, 15.0) == 0  # SIGTERM stops it while it retries
    assert "revoked" not in bot.log_text()  # the token never reaches the log


async def test_without_an_app_token_the_socket_is_off(harness: Harness) -> None:
    async with harness.http.get(f"{harness.url}/healthz") as response:
        assert response.status == 200
        assert (await response.json())["socket"] == "off"
