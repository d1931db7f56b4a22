"""A running triagebot whose ``POST /sns`` trusts our own signing certificate.

The app is the real one (``build_app``) on a loopback port, against the fake Slack Web API and
moto server; ``cert_dir`` holds the certificate of ``tests.alarms.signing``; confirming a
subscription GETs nothing real: the confirm fetch is a recorder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import build_app
from bot.config import load_settings
from bot.demo.moto_server import free_port
from bot.demo.slack_api import FakeSlackApi, SlackMessage
from bot.ingress.sns import Fetch
from bot.timings import Timings
from bot.triage_app import TriageApp
from tests.alarms.signing import TOPIC, signer

CHANNEL = "C0ALARMS"
SLACK_ENV = {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": "s3cr3t"}
CONFIRMED = (
    "<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>"
    f"{TOPIC}:4bbc1e8a-0f2c-4d7e-9f6a-1a2b3c4d5e6f"
    "</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
)


def write_config(tmp_path: Path, *, topics: tuple[str, ...] = (TOPIC,), extra: str = "") -> Path:
    """A config whose cert_dir holds our signing certificate."""
    signer().place(tmp_path / "certs")
    listed = ", ".join(f'"{t}"' for t in topics)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[slack]
default_channel = "{CHANNEL}"
[store]
url = "sqlite:///{tmp_path / "state.db"}"
[sns]
topic_arns = [{listed}]
cert_dir = "certs"
{extra}
"""
    )
    return path


@dataclass
class ConfirmRecorder:
    """Stands in for the GET of a SubscribeURL; ``fail`` makes SNS say no."""

    urls: list[str] = field(default_factory=list)
    fail: bool = False

    async def __call__(self, url: str) -> str:
        self.urls.append(url)
        if self.fail:
            raise ConnectionError("SNS did not answer")
        return CONFIRMED


@dataclass
class SnsHarness:
    slack: FakeSlackApi
    app: TriageApp
    url: str
    http: aiohttp.ClientSession
    confirms: ConfirmRecorder

    async def post(
        self, body: str | bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        data = body.encode() if isinstance(body, str) else body
        sns_headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": "Notification",
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        async with self.http.post(
            f"{self.url}/sns", data=data, headers=headers or sns_headers
        ) as response:
            return response.status, await response.text()

    async def healthz(self) -> int:
        async with self.http.get(f"{self.url}/healthz") as response:
            return response.status

    async def settle(self, timeout: float = 20.0) -> None:
        """Wait until every background task (alarm handling, runs, charts) is done."""
        await self.app.tasks.drain(timeout)
        self.app.tasks.accepting = True

    def roots(self, alarm_name: str) -> list[SlackMessage]:
        """Top-level messages in the alarm channel that name ``alarm_name``."""
        return [m for m in self.slack.messages(CHANNEL) if alarm_name in m.text]


async def start_harness(
    tmp_path: Path,
    moto_url: str,
    *,
    topics: tuple[str, ...] = (TOPIC,),
    cert_fetch: Fetch | None = None,
    extra: str = "",
    timings: Timings | None = None,
    clock: Callable[[], datetime] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[SnsHarness]:
    slack = FakeSlackApi()
    await slack.start()
    settings = load_settings(
        write_config(tmp_path, topics=topics, extra=extra),
        env={
            **SLACK_ENV,
            "SLACK_API_URL": slack.base_url,
            "AWS_ENDPOINT_URL": moto_url,
            **(env or {}),
        },
    )
    confirms = ConfirmRecorder()
    app = build_app(
        settings,
        sns_confirm=confirms,
        sns_cert_fetch=cert_fetch,
        timings=timings,
        **({"clock": clock} if clock is not None else {}),
    )
    runner = web.AppRunner(app.web, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as http:
        yield SnsHarness(slack, app, f"http://127.0.0.1:{port}", http, confirms)
    await runner.cleanup()
    await slack.stop()


@pytest.fixture
async def sns_harness(tmp_path: Path, moto_url: str) -> AsyncIterator[SnsHarness]:
    async for harness in start_harness(tmp_path, moto_url):
        yield harness
