"""Slack Socket Mode: the Bolt app fed over one outbound WebSocket instead of ``/slack/events``.

``SocketLink`` owns the connection (slack_sdk's aiohttp client, through Bolt's adapter) and says
whether it is up, for ``/healthz``. slack_sdk reconnects by itself: at once when Slack asks
(``disconnect``, ``refresh_requested``) or closes the socket, and within ``ping_interval`` when
the connection dies without a word.
"""

from __future__ import annotations

import logging
from typing import Literal

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)

SocketState = Literal["connected", "disconnected", "off"]


class SocketLink:
    """One Socket Mode connection for ``bolt``, opened with the app-level (``xapp-``) token.

    Nothing is created until ``connect`` (slack_sdk's client needs a running event loop), so
    building the app stays cheap and synchronous.
    """

    def __init__(self, bolt: AsyncApp, app_token: str, *, ping_interval: float = 10.0) -> None:
        self._bolt = bolt
        self._app_token = app_token
        self._ping_interval = ping_interval
        self._handler: AsyncSocketModeHandler | None = None

    async def connect(self) -> None:
        """Open the connection; returns once it is up (slack_sdk retries until then)."""
        # apps.connections.open goes through Bolt's client, so SLACK_API_URL applies to it too.
        self._handler = AsyncSocketModeHandler(
            self._bolt, self._app_token, ping_interval=self._ping_interval
        )
        await self._handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack in Socket Mode")

    async def close(self) -> None:
        if self._handler is not None:
            await self._handler.close_async()  # type: ignore[no-untyped-call]

    async def state(self) -> SocketState:
        """``connected`` while the WebSocket is open and answering pings."""
        if self._handler is None:
            return "disconnected"
        return "connected" if await self._handler.client.is_connected() else "disconnected"
