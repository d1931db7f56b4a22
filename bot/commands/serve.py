"""``triagebot serve``: the long-running bot, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal

from aiohttp import web

from bot.app import build_app
from bot.config import Settings
from bot.errors import ConfigError
from bot.http_timeouts import TimedAppRunner
from bot.logs import configure_json_logging

log = logging.getLogger(__name__)


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    configure_json_logging(settings.log_level or "INFO")
    app = build_app(settings, socket_mode=settings.secrets.slack_app_token is not None)
    runner = TimedAppRunner(
        app.web,
        header_timeout=settings.server.header_timeout.total_seconds(),
        idle_timeout=settings.server.idle_timeout.total_seconds(),
        access_log=None,
        handle_signals=False,
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.server.host, settings.server.port)
    try:
        await site.start()
    except OSError as exc:  # the port is taken (another serve?), or not ours to bind
        await runner.cleanup()
        where = f"{settings.server.host}:{settings.server.port}"
        raise ConfigError(
            f"cannot listen on {where}: {os.strerror(exc.errno) if exc.errno else exc}. "
            "Stop whatever holds it, or set another [server] port."
        ) from exc
    # Everything built so far lives as long as the process: keep the garbage collector from
    # walking it on every full collection (those pauses showed up as slow Slack acks).
    gc.freeze()
    log.info("listening on %s:%d", settings.server.host, settings.server.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Socket Mode connects in the background: until it is up /healthz says 503, and a SIGTERM
    # still stops the process cleanly while slack_sdk keeps retrying.
    connecting = asyncio.create_task(app.socket.connect()) if app.socket is not None else None
    await stop.wait()
    log.info("stopping: finishing runs in flight")
    if app.socket is not None and connecting is not None:
        await app.socket.close()
        connecting.cancel()
    await runner.cleanup()
    return 0
