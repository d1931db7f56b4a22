"""Slow clients are cut off: header, body and idle timeouts for the aiohttp server.

aiohttp closes a keep-alive connection that stays idle for ``keepalive_timeout`` (since 3.14
also a new connection that never completes a request), but it has no header or body timeout: a
client that sends a header byte a second, or a body a byte a second, holds its socket as long
as it likes. So:

- ``TimedAppRunner`` — an ``AppRunner`` whose connections are ``_HeaderTimedHandler``: from
  the first byte of a request, its headers must be complete within ``header_timeout``, else
  the connection is closed. ``idle_timeout`` is aiohttp's own ``keepalive_timeout``.
- ``body_timeout_middleware`` — from the moment the handler starts (headers read), the body
  must have arrived within ``body_timeout``; a read still waiting then fails, and the client
  gets 408 and a closed connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

log = logging.getLogger(__name__)


class BodyTimeout(TimeoutError):
    """The request body did not arrive within the body timeout.

    A ``TimeoutError``, so that aiohttp's own lingering read of an unread body ends quietly.
    """


class _HeaderTimedHandler(RequestHandler):
    """aiohttp's connection protocol, closing a connection whose request headers do not
    complete within ``header_timeout`` of their first byte.

    It reads three of ``RequestHandler``'s attributes: ``_request_count`` (requests whose
    headers were parsed), ``_messages`` (parsed, not yet handled) and ``_request_in_progress``;
    ``tests/test_server_timeouts.py`` holds it to that against the installed aiohttp.
    """

    def __init__(self, manager: Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        parsed = self._request_count
        between_requests = not self._messages and not self._request_in_progress
        super().data_received(data)
        if self._request_count > parsed:  # headers complete: the body is the middleware's
            self._cancel_header_deadline()
        elif data and between_requests and self._header_deadline is None:
            self._header_deadline = self._loop.call_later(
                self._header_timeout, self._headers_too_slow, parsed
            )

    def _headers_too_slow(self, parsed: int) -> None:
        self._header_deadline = None
        if self._request_count == parsed and self.transport is not None:
            log.info(
                "closed a connection whose request headers took over %gs", self._header_timeout
            )
            self.force_close()

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)


class _HeaderTimedServer(Server):
    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout

    def __call__(self) -> RequestHandler:
        return _HeaderTimedHandler(
            self, loop=self._loop, header_timeout=self._header_timeout, **self._kwargs
        )


class TimedAppRunner(web.AppRunner):
    """``web.AppRunner`` with a header timeout and an idle (keep-alive) timeout, in seconds."""

    def __init__(
        self, app: web.Application, *, header_timeout: float, idle_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(app, keepalive_timeout=idle_timeout, **kwargs)
        self._header_timeout = header_timeout

    async def _make_server(self) -> Server:
        plain = await super()._make_server()  # runs the app's startup hooks
        return _HeaderTimedServer(  # the same server, but its connections keep time
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            header_timeout=self._header_timeout,
            **plain._kwargs,
        )


def body_timeout_middleware(body_timeout: float) -> Any:
    """A middleware giving each request's body ``body_timeout`` seconds to arrive in full."""

    @web.middleware
    async def body_deadline(request: web.Request, handler: Any) -> web.StreamResponse:
        content = request.content
        if not request.body_exists or content.is_eof():
            response: web.StreamResponse = await handler(request)
            return response

        def expire() -> None:
            if not content.is_eof():
                content.set_exception(BodyTimeout(f"no whole body within {body_timeout:g}s"))

        timer = asyncio.get_running_loop().call_later(body_timeout, expire)
        content.on_eof(timer.cancel)
        try:
            response = await handler(request)
        except BodyTimeout:
            log.info("cut off a request whose body took over %gs", body_timeout)
            refusal = web.Response(status=408, text="request body too slow")
            refusal.force_close()
            return refusal
        finally:
            timer.cancel()
        return response

    return body_deadline
