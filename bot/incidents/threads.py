"""An incident's messages in Slack, through the sender: a message or reply, and the root
redrawn from the store (its alarm snapshot and the incident's current state)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.incidents import messages as msg
from bot.incidents.changes import snapshot
from bot.outbound.sender import Sent, SlackSender
from bot.store.base import Incident, Store


class Threads:
    """Posts into incident threads and keeps root messages showing their incident."""

    def __init__(self, sender: SlackSender, store: Store, clock: Callable[[], datetime]) -> None:
        self._sender = sender
        self._store = store
        self._clock = clock

    async def post(self, channel: str, text: msg.SlackText, thread_ts: str | None = None) -> Sent:
        return await self._sender.post(channel, text.text, text.blocks, thread_ts=thread_ts)

    async def update(self, channel: str, ts: str, text: msg.SlackText) -> Sent:
        return await self._sender.update(channel, ts, text.text, text.blocks)

    async def tell(self, channel: str, user: str, text: str) -> None:
        """An ephemeral answer for the person who pressed a button."""
        await self._sender.ephemeral(channel, user, text)

    async def edit_root(self, incident: Incident) -> None:
        """Redraw the incident's root message (state, acknowledgement, mute, resolution)."""
        if not incident.root_ts:
            return
        alarm = await snapshot(self._store, incident.key)
        if alarm is None:
            return
        await self.update(
            incident.channel, incident.root_ts, msg.root_message(alarm, incident, self._clock())
        )
