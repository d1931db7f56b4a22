"""The HTTP surface: one aiohttp application. Adapters only translate; the work is elsewhere."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.http_timeouts import body_timeout_middleware
from bot.metrics import CONTENT_TYPE_LATEST, Metrics
from bot.slack.gate import SlackRequestGate

log = logging.getLogger(__name__)
MAX_SLACK_BODY = 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


def build_web_app(
    *,
    bolt: AsyncApp | None,
    gate: SlackRequestGate | None = None,
    metrics: Metrics,
    health: HealthCheck,
    sns_handler: Handler | None = None,
    body_timeout: float = 30.0,
) -> web.Application:
    """Routes: ``POST /slack/events`` (when ``bolt``; Socket Mode has none), ``POST /sns``,
    ``GET /healthz`` and ``GET /metrics``. A request body that takes longer than
    ``body_timeout`` seconds to arrive is answered 408 (``bot.http_timeouts``)."""
    app = web.Application(
        client_max_size=MAX_SLACK_BODY, middlewares=[body_timeout_middleware(body_timeout)]
    )

    if bolt is not None:

        async def slack_events(request: web.Request) -> web.Response:
            started = time.perf_counter()
            if gate is not None:
                verdict = gate.check(
                    await request.read(),
                    request.headers.get("X-Slack-Request-Timestamp"),
                    request.headers.get("X-Slack-Signature"),
                )
                if verdict.status is not None:
                    return web.Response(status=verdict.status, text=verdict.body)
            try:
                bolt_response = await bolt.async_dispatch(await to_bolt_request(request))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("a Slack request Bolt could not read: %s", type(exc).__name__)
                return web.Response(status=400, text="malformed request")
            response = await to_aiohttp_response(bolt_response)
            metrics.ack_seconds.observe(time.perf_counter() - started)
            return response

        app.router.add_post("/slack/events", slack_events)

    if sns_handler is not None:

        async def sns(request: web.Request) -> web.StreamResponse:
            return await sns_handler(request)

        app.router.add_post("/sns", sns)

    async def healthz(request: web.Request) -> web.Response:
        report = await health()
        status = 200 if report.get("status") == "ok" else 503
        return web.json_response(report, status=status)

    async def prometheus(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    return app
