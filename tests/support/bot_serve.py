"""A ``triagebot serve`` process for fault tests: its store where the test says (a directory it
may delete, a tmpfs it may fill), SNS topics and certificates in place, the fake Slack Web API,
and ``[server]`` timeouts as given. Plus the raw HTTP the tests need: ``/healthz`` with its
latency, and a signed alarm POSTed to ``/sns``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.alarms.signing import alarm_message, notification, signer
from tests.support.serve_process import ServeProcess, serve_config

CHANNEL = "C0FAULTS"


def bot_serve(
    tmp_path: Path,
    *,
    store: Path,
    slack_url: str,
    moto_url: str,
    server: str = "",
    store_lines: str = "",
) -> ServeProcess:
    """The process, not started; ``server`` and ``store_lines`` add lines to ``[server]`` and
    ``[store]``."""
    config, port = serve_config(
        tmp_path, channel=CHANNEL, store_url=f"sqlite:///{store}", server=server, store=store_lines
    )
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-fault-test",
        "SLACK_SIGNING_SECRET": "fault-test-secret",
        "SLACK_API_URL": slack_url,
        "AWS_ENDPOINT_URL": moto_url,
        "TRIAGEBOT_LOG_LEVEL": "INFO",
    }
    return ServeProcess(config, port, env, tmp_path / "serve.log")


async def healthz(url: str) -> tuple[int, dict[str, Any], float]:
    """``GET /healthz``: status, report, and how long it took (seconds)."""
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as response:
        report = await response.json()
        return response.status, report, time.perf_counter() - started


async def post_alarm(url: str, name: str = "fault-test-5xx") -> int:
    """A valid, signed SNS Notification of an ALARM to ``POST /sns``: the HTTP status."""
    body = signer().body(notification(alarm_message(name)))
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/sns", data=body.encode(), headers={"Content-Type": "text/plain"}) as r,
    ):
        return r.status
