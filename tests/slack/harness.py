"""A running triagebot against a fake Slack (HTTP) and moto server (HTTP), driven by signed
requests — the way Slack itself would."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import build_app
from bot.config import load_settings
from bot.demo.moto_server import free_port
from bot.demo.seed import SeededIncident, seed_incident
from bot.demo.slack_api import FakeSlackApi
from bot.demo.slack_requests import payload_body, signed_headers, slash_command_body
from bot.timings import Timings
from bot.triage_app import TriageApp

__all__ = ["Harness", "button_payload", "command_body", "harness", "payload_body", "sign"]

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C0TRIAGE"
USER = "U0ONCALL"
FIXTURE_PLAYBOOKS = Path(__file__).resolve().parent.parent / "fixtures" / "playbooks" / "slack"


def sign(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    return signed_headers(body, secret, timestamp)


def command_body(text: str, *, user: str = USER, channel: str = CHANNEL) -> str:
    return slash_command_body(text, user=user, channel=channel)


def button_payload(
    action_id: str, value: str, *, user: str = USER, channel: str = CHANNEL, ts: str = ""
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "oncall", "team_id": "T1DC2JH3J"},
        "api_app_id": "A0TRIAGE",
        "token": "verification_token",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "trigger_id": "111.222.valid",
        "team": {"id": "T1DC2JH3J", "domain": "testteamnow"},
        "channel": {"id": channel, "name": "incidents"},
        "message": {"type": "message", "ts": ts, "text": ""},
        "response_url": "https://hooks.slack.com/actions/T1DC2JH3J/1/x",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "run",
                "value": value,
                "type": "button",
                "action_ts": "1.2",
            }
        ],
    }


@dataclass
class Harness:
    slack: FakeSlackApi
    app: TriageApp
    url: str
    http: aiohttp.ClientSession
    incident: SeededIncident

    async def post(self, body: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        async with self.http.post(
            f"{self.url}/slack/events",
            data=body.encode(),
            headers=headers if headers is not None else sign(body),
        ) as response:
            return response.status, await response.text()

    async def command(
        self, text: str, *, user: str = USER, channel: str = CHANNEL
    ) -> tuple[int, dict[str, Any]]:
        status, text_body = await self.post(command_body(text, user=user, channel=channel))
        return status, (json.loads(text_body) if text_body.strip() else {})

    async def settle(self, timeout: float = 15.0) -> None:
        """Wait until every background task (runs, modals, buttons) is done."""
        await self.app.tasks.drain(timeout)
        self.app.tasks.accepting = True


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[slack]
default_channel = "{CHANNEL}"
[store]
url = "sqlite:///{tmp_path / "state.db"}"
[playbooks]
dirs = ["{FIXTURE_PLAYBOOKS}"]
[access]
admins = ["U0ADMIN"]
{extra}
"""
    )
    return path


# Slack retries back off for a hundredth of a second here, not half a second: tests that make
# the stand-in fail wait for the retries, not the production pauses.
TEST_TIMINGS = Timings(slack_backoff=timedelta(seconds=0.01), run_final_retry=timedelta(seconds=1))


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, aws_url: str, incident: SeededIncident, timings: Timings = TEST_TIMINGS
) -> AsyncIterator[Harness]:
    """The bot over real HTTP against a fresh Slack stand-in and the AWS at ``aws_url``."""
    slack = FakeSlackApi(usergroups={"S0ONCALL": ["U0MEMBER"]})
    await slack.start()
    settings = load_settings(
        write_config(tmp_path),
        env={
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.base_url,
            "AWS_ENDPOINT_URL": aws_url,
        },
    )
    app = build_app(settings, timings=timings)
    runner = web.AppRunner(app.web, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Harness(
                slack=slack, app=app, url=f"http://127.0.0.1:{port}", http=http, incident=incident
            )
    finally:
        await runner.cleanup()
        await slack.stop()


@pytest.fixture
async def harness(tmp_path: Path, moto_url: str) -> AsyncIterator[Harness]:
    async with running(tmp_path, moto_url, seed_incident(moto_url)) as running_harness:
        yield running_harness
