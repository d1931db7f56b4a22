"""``triagebot serve``: the long-running bot, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal

from aiohttp import web

from bot.app import build_app
from bot.config import Settings
from bot.logs import configure_json_logging

log = logging.getLogger(__name__)


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    configure_json_logging(settings.log_level or "INFO")
    app_token = settings.secrets.slack_app_token
    app = build_app(settings, socket_mode=app_token is not None)
    runner = web.AppRunner(app.web, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.server.host, settings.server.port)
    await site.start()
    # Everything built so far lives as long as the process: keep the garbage collector from
    # walking it on every full collection (those pauses showed up as slow Slack acks).
    gc.freeze()
    log.info("listening on %s:%d", settings.server.host, settings.server.port)
    socket_handler = None
    if app_token is not None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(app.bolt, app_token.get_secret_value())
        await socket_handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack in Socket Mode")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: finishing runs in flight")
    if socket_handler is not None:
        await socket_handler.close_async()  # type: ignore[no-untyped-call]
    await runner.cleanup()
    return 0
