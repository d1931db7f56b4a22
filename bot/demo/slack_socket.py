"""The Socket Mode side of the Slack stand-in: the WebSocket that ``apps.connections.open``
points an app at, over real HTTP on 127.0.0.1.

The protocol is Slack's: on connect the server sends ``hello``; it then pushes envelopes
(``{"envelope_id", "type", "payload", "accepts_response_payload"}``, ``type`` one of
``slash_commands``, ``interactive``, ``events_api``) and the app acks each with
``{"envelope_id": …}`` — plus ``"payload"`` when the envelope accepts one. The server may ask
the app to move to a new connection (``{"type": "disconnect", "reason": "refresh_requested"}``)
or just vanish. ``FakeSlackApi`` serves it at ``/link/``; a test drives it::

    envelope_id = await fake.socket.push("slash_commands", {"command": "/triage", ...})
    ack = await fake.socket.wait_ack(envelope_id, timeout=3)
    await fake.socket.request_refresh()
    await fake.socket.wait_connected(count=2)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

EnvelopeType = Literal["slash_commands", "interactive", "events_api"]

# Interactive payloads whose ack may carry an answer (response_action, options).
_ANSWERABLE = frozenset({"view_submission", "block_suggestion"})


@dataclass(frozen=True)
class SocketAck:
    """What the app sent back for one envelope."""

    envelope_id: str
    payload: Mapping[str, Any] | None  # None when the ack carried no payload
    seconds: float  # from sending the envelope to receiving the ack


@dataclass
class SocketConnection:
    """One WebSocket connection from the app."""

    number: int  # 1 for the first connection, 2 for the next, ...
    ticket: str
    ws: web.WebSocketResponse
    request: web.Request
    received: list[Any] = field(default_factory=list)  # every JSON frame the app sent
    closed: bool = False


def envelope(
    kind: EnvelopeType,
    payload: Mapping[str, Any],
    *,
    envelope_id: str | None = None,
    accepts_response_payload: bool | None = None,
) -> dict[str, Any]:
    """An envelope the way Slack frames it. Slash commands and ``view_submission`` accept a
    response payload; events are delivered as first attempts (``retry_attempt`` 0)."""
    if accepts_response_payload is None:
        accepts_response_payload = kind == "slash_commands" or (
            kind == "interactive" and payload.get("type") in _ANSWERABLE
        )
    body: dict[str, Any] = {
        "envelope_id": envelope_id or str(uuid.uuid4()),
        "payload": dict(payload),
        "type": kind,
        "accepts_response_payload": accepts_response_payload,
    }
    if kind == "events_api":
        body.update(retry_attempt=0, retry_reason="")
    return body


class SocketModeServer:
    """The WebSocket endpoint, its connections and the acks it received.

    ``refuse(True)`` makes new connections fail their handshake (HTTP 503), the way a Slack
    outage looks to an app trying to reconnect; ``refuse(False)`` lets them in again.
    """

    def __init__(self, *, app_id: str = "A0TRIAGE") -> None:
        self.app_id = app_id
        self.connections: list[SocketConnection] = []
        self.acks: dict[str, SocketAck] = {}
        self.root = ""  # ws://127.0.0.1:PORT; FakeSlackApi sets it when it starts
        self._tickets: set[str] = set()
        self._sent_at: dict[str, float] = {}
        self._refusing = False
        self._numbers = itertools.count(1)
        self._changed = asyncio.Event()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/link/", self._handle)

    def issue_url(self) -> str:
        """A fresh connection URL, as ``apps.connections.open`` answers it."""
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"{self.root}/link/?ticket={ticket}&app_id={self.app_id}"

    def refuse(self, refusing: bool) -> None:
        self._refusing = refusing

    @property
    def current(self) -> SocketConnection | None:
        """The newest open connection, if any."""
        return next((c for c in reversed(self.connections) if not c.closed), None)

    # what a test does

    async def push(
        self,
        kind: EnvelopeType,
        payload: Mapping[str, Any],
        *,
        accepts_response_payload: bool | None = None,
    ) -> str:
        """Send one envelope on the current connection; returns its ``envelope_id``."""
        frame = envelope(kind, payload, accepts_response_payload=accepts_response_payload)
        connection = self._require_current()
        self._sent_at[frame["envelope_id"]] = asyncio.get_running_loop().time()
        await connection.ws.send_str(json.dumps(frame))
        return str(frame["envelope_id"])

    async def wait_ack(self, envelope_id: str, timeout: float = 3.0) -> SocketAck:
        """The ack for ``envelope_id``; TimeoutError if none arrives within ``timeout``."""
        await self._wait(lambda: envelope_id in self.acks, timeout, f"no ack for {envelope_id}")
        return self.acks[envelope_id]

    async def wait_connected(self, count: int = 1, timeout: float = 10.0) -> SocketConnection:
        """Wait until the app has opened ``count`` connections in all and one is open now."""

        def ready() -> bool:
            return len(self.connections) >= count and self.current is not None

        await self._wait(ready, timeout, f"fewer than {count} connections")
        assert self.current is not None
        return self.current

    async def wait_closed(self, connection: SocketConnection, timeout: float = 10.0) -> None:
        await self._wait(lambda: connection.closed, timeout, f"connection {connection.number}")

    async def request_refresh(self) -> SocketConnection:
        """Ask the app to reconnect, as Slack does before it retires a connection."""
        connection = self._require_current()
        message = {
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "applink-fake-1"},
        }
        await connection.ws.send_str(json.dumps(message))
        return connection

    def drop(self) -> SocketConnection:
        """Cut the current connection without a close frame (a network failure)."""
        connection = self._require_current()
        transport = connection.request.transport
        if transport is not None:
            transport.abort()
        return connection

    async def close_all(self) -> None:
        for connection in self.connections:
            if not connection.closed:
                await connection.ws.close()

    # the WebSocket

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if self._refusing:
            return web.Response(status=503, text="service unavailable")
        if ticket not in self._tickets:
            return web.Response(status=401, text="unknown ticket; call apps.connections.open")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = SocketConnection(next(self._numbers), ticket, ws, request)
        self.connections.append(connection)
        self._notify()
        try:
            await ws.send_str(json.dumps(self._hello()))
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._receive(connection, message.data)
        except ConnectionError:
            pass  # dropped: the loop ends the same way
        finally:
            connection.closed = True
            self._notify()
        return ws

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": sum(1 for c in self.connections if not c.closed),
            "debug_info": {"host": "applink-fake-1", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }

    def _receive(self, connection: SocketConnection, data: str) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            frame = data
        connection.received.append(frame)
        if isinstance(frame, dict) and isinstance(frame.get("envelope_id"), str):
            envelope_id = frame["envelope_id"]
            sent = self._sent_at.get(envelope_id, asyncio.get_running_loop().time())
            payload = frame.get("payload")
            self.acks[envelope_id] = SocketAck(
                envelope_id,
                payload if isinstance(payload, dict) else None,
                asyncio.get_running_loop().time() - sent,
            )
        self._notify()

    def _require_current(self) -> SocketConnection:
        connection = self.current
        if connection is None:
            raise RuntimeError("no open Socket Mode connection")
        return connection

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{what} within {timeout}s")
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue
