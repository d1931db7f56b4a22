"""An incident's messages in Slack, through the sender: a message or reply, and the root
redrawn from the store (its alarm snapshot and the incident's current state)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.incidents import messages as msg
from bot.incidents.changes import likely_line, snapshot
from bot.outbound.sender import Sent, SlackSender
from bot.store.base import Incident, Store


class Threads:
    """Posts into incident threads and keeps root messages showing their incident."""

    def __init__(self, sender: SlackSender, store: Store, clock: Callable[[], datetime]) -> None:
        self._sender = sender
        self._store = store
        self._clock = clock

    async def post(
        self,
        channel: str,
        text: msg.SlackText,
        thread_ts: str | None = None,
        *,
        incident: Incident | None = None,
        kind: str = "reply",
    ) -> Sent:
        """Post ``text``; its metadata names ``incident``, and its root (``kind="root"``) is
        one delivery however often it is tried: a try whose outcome was unknown is found."""
        about = {"kind": kind}
        delivery = ""
        if incident is not None:
            about["incident"] = incident.key
            if kind == "root":
                delivery = f"root:{incident.key}@{incident.opened_at.isoformat()}"
        return await self._sender.post(
            channel, text.text, text.blocks, thread_ts=thread_ts, about=about, delivery=delivery
        )

    async def update(self, channel: str, ts: str, text: msg.SlackText) -> Sent:
        return await self._sender.update(channel, ts, text.text, text.blocks)

    async def tell(self, channel: str, user: str, text: str) -> None:
        """An ephemeral answer for the person who pressed a button."""
        await self._sender.ephemeral(channel, user, text)

    async def edit_root(self, incident: Incident) -> None:
        """Redraw the incident's root message (state, acknowledgement, mute, resolution, and
        what its run points at)."""
        if not incident.root_ts:
            return
        alarm = await snapshot(self._store, incident.key)
        if alarm is None:
            return
        likely = await likely_line(self._store, incident)
        root = msg.root_message(alarm, incident, self._clock(), likely=likely)
        await self.update(incident.channel, incident.root_ts, root)
