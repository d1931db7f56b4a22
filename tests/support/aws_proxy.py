"""A slow, sometimes-throttling AWS: an HTTP proxy in front of moto server.

It forwards every request unchanged, after ``delay`` seconds, so a benchmark can measure what
concurrency buys against real-world latency; ``throttle(operation, times)`` answers the next
``times`` calls of an operation with AWS's throttling error, so retries can be tested for real.
``per_second`` counts calls per operation, account (access key), region and wall-clock second,
the way AWS applies its per-account, per-region rate limits.
It runs its own event loop in a thread, so sync code and subprocesses can use it alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections import Counter
from typing import Any

import aiohttp
from aiohttp import web

from bot.demo.moto_server import free_port
from tests.support.loop_thread import LoopThreadServer

_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/")


class SlowAws(LoopThreadServer):
    def __init__(self, upstream: str, *, delay: float = 0.0) -> None:
        super().__init__(free_port())
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self._stopping: asyncio.Event | None = None  # ends every delay at once on stop
        self.per_second: Counter[tuple[str, str, str, int]] = Counter()
        self._throttles: Counter[str] = Counter()
        self._answers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def answer(self, operation: str, body: dict[str, Any]) -> None:
        """Answer a JSON-protocol ``operation`` moto lacks (Health, CloudTrail LookupEvents)."""
        with self._lock:
            self._answers[operation] = json.dumps(body)

    def busiest_second(self, operation: str) -> int:
        """The most calls of ``operation`` that one account and region made in one second."""
        with self._lock:
            counts = [n for key, n in self.per_second.items() if key[0] == operation]
        return max(counts, default=0)

    def throttle(self, operation: str, times: int) -> None:
        """Answer the next ``times`` calls of ``operation`` (``LookupEvents``) with throttling."""
        with self._lock:
            self._throttles[operation] += times

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()  # requests still held answer now, so cleanup need not wait
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        operation = _operation(request, body)
        found = _CREDENTIAL.search(request.headers.get("Authorization", ""))
        account, region = found.groups() if found else ("", "")
        with self._lock:
            self.calls[operation] += 1
            self.per_second[(operation, account, region, int(time.time()))] += 1
            throttled = self._throttles[operation] > 0
            if throttled:
                self._throttles[operation] -= 1
            canned = self._answers.get(operation)
        if self.delay and self._stopping is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.delay)
            if self._stopping.is_set():
                return web.Response(status=503, text="the proxy is stopping")
        if throttled:
            return _throttling(request)
        if canned is not None:
            return web.Response(status=200, text=canned, content_type="application/x-amz-json-1.1")
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers
        ) as upstream:
            payload = await upstream.read()
            out_headers = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in _HOP_HEADERS | {"content-encoding"}
            }
            return web.Response(status=upstream.status, body=payload, headers=out_headers)


def _operation(request: web.Request, body: bytes) -> str:
    target = request.headers.get("X-Amz-Target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    action = request.query.get("Action")
    if action:
        return action
    for part in body.decode("utf-8", "replace").split("&"):
        if part.startswith("Action="):
            return part.removeprefix("Action=")
    return f"{request.method} {request.path}"


def _throttling(request: web.Request) -> web.Response:
    if request.headers.get("X-Amz-Target"):
        payload: Any = '{"__type": "ThrottlingException", "message": "Rate exceeded"}'
        return web.Response(status=400, text=payload, content_type="application/x-amz-json-1.1")
    xml = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        "<Message>Rate exceeded</Message></Error><RequestId>throttled</RequestId></ErrorResponse>"
    )
    return web.Response(status=400, text=xml, content_type="text/xml")
