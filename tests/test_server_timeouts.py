"""Slow clients are cut off by ``triagebot serve``: headers that dribble are closed at
``[server] header_timeout``, a body that dribbles gets 408 at ``body_timeout``, an idle
keep-alive connection is closed at ``idle_timeout`` — while ``/healthz`` stays fast. A real
serve process, raw sockets on 127.0.0.1, timeouts passed small.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.demo.slack_api import FakeSlackApi
from tests.support.bot_serve import bot_serve, healthz
from tests.support.serve_process import ServeProcess

ATTACKERS = 50
MARGIN_S = 1.0  # scheduling slack on a shared 2-core machine


@dataclass
class Dribble:
    """One slow client: what it managed to send and when the server closed on it."""

    bytes_sent: int
    closed_after: float  # seconds from its first byte
    answer: bytes


async def dribble(port: int, head: bytes, slow: bytes, every: float, give_up: float) -> Dribble:
    """Send ``head`` at once, then ``slow`` one byte per ``every`` s until the server closes
    the connection (or ``give_up`` s pass)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    sent = 0
    answer = b""

    async def send() -> None:
        nonlocal sent
        writer.write(head)
        sent += len(head)
        for byte in slow:
            await asyncio.sleep(every)
            if writer.is_closing():
                return
            writer.write(bytes([byte]))
            try:
                await writer.drain()
            except ConnectionError:  # the server closed it: what we are waiting for
                return
            sent += 1

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(give_up):
            while chunk := await reader.read(65536):  # b"": the server closed it
                answer += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sender.cancel()
        writer.close()
    return Dribble(sent, time.monotonic() - started, answer)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    fake = FakeSlackApi()
    await fake.start()
    yield fake
    await fake.stop()


async def serve(
    tmp_path: Path, slack: FakeSlackApi, moto_url: str, *, header: str, body: str, idle: str
) -> ServeProcess:
    bot = bot_serve(
        tmp_path,
        store=tmp_path / "state.db",
        slack_url=slack.base_url,
        moto_url=moto_url,
        server=f'header_timeout = "{header}"\nbody_timeout = "{body}"\nidle_timeout = "{idle}"',
    )
    await bot.start()
    return bot


async def healthz_latencies(url: str, until: asyncio.Task[list[Dribble]]) -> list[float]:
    """``/healthz`` again and again while ``until`` runs: each answer's latency."""
    latencies: list[float] = []
    while not until.done():
        status, _, took = await healthz(url)
        assert status == 200
        latencies.append(took)
        await asyncio.sleep(0.05)
    return latencies


async def test_fifty_dribbled_headers_are_closed_at_the_header_timeout(
    tmp_path: Path, slack: FakeSlackApi, moto_url: str
) -> None:
    bot = await serve(tmp_path, slack, moto_url, header="1s", body="60s", idle="60s")
    try:
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"

        async def attackers() -> list[Dribble]:
            slow = b"X-Slow: " + b"a" * 100
            return await asyncio.gather(
                *(dribble(bot.port, head, slow, every=0.3, give_up=20) for _ in range(ATTACKERS))
            )

        attack = asyncio.create_task(attackers())
        latencies = await healthz_latencies(bot.url, attack)
        clients = await attack
        for client in clients:
            assert client.closed_after < 1.0 + MARGIN_S, client
            assert client.bytes_sent > len(head), "it kept sending: the header timeout cut it"
            assert client.answer == b""
        assert latencies and max(latencies) < 0.5, latencies
    finally:
        bot.stop()


async def test_a_dribbled_body_is_cut_at_the_body_timeout_with_408(
    tmp_path: Path, slack: FakeSlackApi, moto_url: str
) -> None:
    bot = await serve(tmp_path, slack, moto_url, header="60s", body="1s", idle="60s")
    try:
        head = (
            b"POST /sns HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        client = await dribble(bot.port, head, b'"a": 1' * 100, every=0.2, give_up=20)
        assert client.answer.startswith(b"HTTP/1.1 408"), client
        assert client.closed_after < 1.0 + MARGIN_S, client
        assert client.bytes_sent > len(head)
        status, _, _ = await healthz(bot.url)
        assert status == 200
    finally:
        bot.stop()


async def test_idle_connections_are_closed_at_the_idle_timeout(
    tmp_path: Path, slack: FakeSlackApi, moto_url: str
) -> None:
    bot = await serve(tmp_path, slack, moto_url, header="60s", body="60s", idle="1s")
    try:
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        kept_alive, silent = await asyncio.gather(
            dribble(bot.port, request, b"", every=0, give_up=20),  # a request, then nothing
            dribble(bot.port, b"", b"", every=0, give_up=20),  # connects, never says a word
        )
        assert kept_alive.answer.startswith(b"HTTP/1.1 200"), kept_alive
        assert kept_alive.closed_after < 1.0 + MARGIN_S, kept_alive
        assert silent.closed_after < 1.0 + MARGIN_S, silent
    finally:
        bot.stop()
