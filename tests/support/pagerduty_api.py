"""A local stand-in for the PagerDuty Events API v2 (``POST /v2/enqueue``), over real HTTP on
127.0.0.1: it records every event it gets and answers 202 the way PagerDuty does, or is told to
fail (``fail(500, times=2)``, ``fail(429, retry_after=1)``, ``fail(400)``)::

    api = FakeEventsApi()
    url = await api.start()          # http://127.0.0.1:PORT/v2/enqueue
    ...
    event = await api.wait_for("trigger")
    await api.stop()
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Failure:
    status: int
    times: int | None  # None: every request from now on
    retry_after: float | None


class FakeEventsApi:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []  # every request body, answered or not
        self.accepted: list[dict[str, Any]] = []  # the events answered 202
        self._failures: list[Failure] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    def fail(
        self, status: int, *, times: int | None = None, retry_after: float | None = None
    ) -> None:
        """Answer the next ``times`` requests (every one, if None) with ``status``."""
        self._failures.append(Failure(status, times, retry_after))

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._enqueue)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}/v2/enqueue"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def actions(self) -> list[str]:
        """The actions accepted so far, in order."""
        return [event["event_action"] for event in self.accepted]

    async def wait_for(self, action: str, count: int = 1, timeout: float = 30) -> dict[str, Any]:
        """The ``count``-th accepted event with ``action``, once it has come."""

        def found() -> list[dict[str, Any]]:
            return [e for e in self.accepted if e["event_action"] == action]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(found()) >= count), timeout)
        return found()[count - 1]

    async def wait_received(self, count: int, timeout: float = 30) -> None:
        """Until ``count`` requests have come, whatever they were answered."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.received) >= count), timeout
            )

    async def _enqueue(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._changed:
            self.received.append(body)
            response = self._answer(body)
            self._changed.notify_all()
        return response

    def _answer(self, body: dict[str, Any]) -> web.Response:
        if self._failures:
            failure = self._failures[0]
            if failure.times is not None:
                if failure.times <= 1:
                    self._failures.pop(0)
                else:
                    self._failures[0] = Failure(
                        failure.status, failure.times - 1, failure.retry_after
                    )
            headers = (
                {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            )
            said = {
                400: {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"],
                },
                429: {"status": "throttle", "message": "Too many requests"},
            }.get(failure.status, {"status": "error", "message": "Internal error"})
            return web.json_response(said, status=failure.status, headers=headers)
        if not body.get("routing_key") or body.get("event_action") not in (
            "trigger",
            "acknowledge",
            "resolve",
        ):
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid"}, status=400
            )
        self.accepted.append(body)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]},
            status=202,
        )
