"""Kill ``triagebot serve`` with SIGKILL after it answered 200 and before Slack heard anything;
the restarted server posts the alarm's thread, once.

The server runs as a real subprocess (``python -m bot serve``) against moto server and, first,
a Slack that accepts connections and never answers — so the kill lands while the alarm is
being handled — then, after the restart, the fake Slack Web API.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from bot.demo.slack_api import FakeSlackApi
from bot.demo.slack_requests import signed_headers, slash_command_body
from bot.store.sqlite import SqliteStore
from tests.alarms.signing import alarm_message, notification, signer
from tests.support.serve_process import ServeProcess, serve_config

CHANNEL = "C0CRASH"
LEASE_S = 3  # [store] lease: how long the killed server's root-posting lease holds the alarm


@dataclass
class BlackHole:
    """A 'Slack' that reads requests and never answers them."""

    requests: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None
    url: str = ""
    open: set[asyncio.StreamWriter] = field(default_factory=set)  # closed by stop, at the latest

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._swallow, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/api/"

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open.add(writer)
        try:
            while chunk := await reader.read(65536):
                self.requests.append(chunk)
        finally:
            self.open.discard(writer)
            writer.close()

    def saw(self, text: str) -> bool:
        return any(text.encode() in chunk for chunk in self.requests)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.open):
            writer.close()


class Server(ServeProcess):
    """``python -m bot serve`` in a subprocess; ``start(slack_url)`` points it at a Slack."""

    def __init__(self, config: Path, port: int, log: Path, moto_url: str) -> None:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-crash-test",
            "SLACK_SIGNING_SECRET": "crash-test-secret",
            "AWS_ENDPOINT_URL": moto_url,
            "TRIAGEBOT_LOG_LEVEL": "INFO",
        }
        super().__init__(config, port, env, log)

    async def start(self, slack_url: str) -> None:  # type: ignore[override]
        await super().start(SLACK_API_URL=slack_url)


@pytest.fixture
def server(tmp_path: Path, moto_url: str) -> Iterator[Server]:
    config, port = serve_config(tmp_path, channel=CHANNEL, store=f'lease = "{LEASE_S}s"')
    process = Server(config, port, tmp_path / "server.log", moto_url)
    yield process
    process.stop()


async def post_sns(url: str, body: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/sns", data=body.encode(), headers={"Content-Type": "text/plain"}
        ) as response,
    ):
        return response.status


async def inbox_status(db: Path, message_id: str) -> str:
    store = SqliteStore(db)
    await store.start()
    try:
        item = await store.inbox_get(message_id)
        return item.status if item is not None else "missing"
    finally:
        await store.close()


async def eventually(check: object, timeout: float = 30.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not true within {timeout}s: {check}")


async def idle(server: Server) -> bool:
    """Nothing in flight in the server (``GET /healthz``)."""
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as response:
        return bool((await response.json())["runs_in_flight"] == 0)


def roots(slack: FakeSlackApi, alarm_name: str) -> int:
    return sum(alarm_name in m.text for m in slack.messages(CHANNEL))


async def test_sigkill_after_the_200_and_the_thread_appears_once_after_restart(
    server: Server, slack: FakeSlackApi, tmp_path: Path
) -> None:
    hole = BlackHole()
    await hole.start()
    await server.start(hole.url)
    envelope = notification(alarm_message("crash-test-5xx"))
    body = signer().body(envelope)
    assert await post_sns(server.url, body) == 200
    # Handling has begun: the root message is on its way to a Slack that never answers.
    await eventually(lambda: hole.saw("chat.postMessage"), timeout=15)
    server.kill()
    await hole.stop()
    db = tmp_path / "state.db"
    assert await inbox_status(db, envelope["MessageId"]) == "processing"

    # Restart at once. The killed process still holds the incident's root-posting lease
    # ([store] lease): the restarted one takes the message back from the inbox, finds the root
    # "being posted" while that lease lasts, and asks the inbox to retry once it has run out.
    await server.start(slack.base_url)
    await eventually(lambda: roots(slack, "crash-test-5xx") >= 1, timeout=LEASE_S + 30)
    await eventually(lambda: _is(inbox_status(db, envelope["MessageId"]), "done"), timeout=60)
    # SNS may deliver the same message again later: still one root.
    assert await post_sns(server.url, body) == 200
    await eventually(lambda: idle(server))  # whatever the second delivery started has finished
    assert roots(slack, "crash-test-5xx") == 1, server.log_text()
    [root] = [m for m in slack.messages(CHANNEL) if "crash-test-5xx" in m.text]
    assert slack.thread(CHANNEL, root.ts), "the playbook result goes in the thread"


async def test_the_same_message_three_times_at_once_makes_one_root(
    server: Server, slack: FakeSlackApi, tmp_path: Path
) -> None:
    await server.start(slack.base_url)
    envelope = notification(alarm_message("crash-test-triple"))
    body = signer().body(envelope)
    statuses = await asyncio.gather(*(post_sns(server.url, body) for _ in range(3)))
    assert statuses == [200, 200, 200]
    await eventually(
        lambda: _is(inbox_status(tmp_path / "state.db", envelope["MessageId"]), "done"),
        timeout=60,
    )
    assert roots(slack, "crash-test-triple") == 1, server.log_text()
    log_lines = [json.loads(line) for line in server.log_text().splitlines()[1:] if line[:1] == "{"]
    assert all(line.get("level") != "critical" for line in log_lines)


async def _is(status: object, expected: str) -> bool:
    assert asyncio.iscoroutine(status)
    return bool(await status == expected)


async def test_sigterm_finishes_the_runs_in_flight_then_exits(
    server: Server, slack: FakeSlackApi, tmp_path: Path
) -> None:
    await server.start(slack.base_url)
    body = slash_command_body("emergency", user="U0ONCALL", channel=CHANNEL)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/slack/events",
            data=body,
            headers=signed_headers(body, "crash-test-secret"),
        ) as response,
    ):
        assert response.status == 200
    await slack.wait_for("chat.postMessage", timeout=15)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(server.process.wait, 60) == 0, server.log_text()

    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    [record] = await store.recent_runs(CHANNEL, 5)
    await store.close()
    assert record.playbook == "emergency" and record.finished_at is not None, server.log_text()
    [message] = slack.messages(CHANNEL)
    assert any(b.get("type") == "actions" for b in message.blocks), "the final version was posted"
    log = server.log.read_text()
    assert '"message": "stopping: finishing runs in flight"' in log
    assert "crash-test-secret" not in log and "xoxb-crash-test" not in log, "no secret in the logs"
