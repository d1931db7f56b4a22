"""An incident's messages in Slack, through the outbox: a message or reply that must arrive,
and the root redrawn from the store (its alarm snapshot and the incident's current state)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.alarms.model import Alarm
from bot.incidents import messages as msg
from bot.incidents.changes import likely_line, snapshot
from bot.outbound.outbox import Outbox, with_note
from bot.outbound.sender import Sent, SlackSender
from bot.render.links import LinkButton
from bot.store.base import Incident, Store

Links = Callable[[Alarm], tuple[LinkButton, ...]]
"""An alarm's link buttons (``bot.incidents.links.AlarmLinks``)."""


def root_delivery(incident: Incident) -> str:
    """The delivery id of the incident's root: one message however often it is tried."""
    return f"root:{incident.key}@{incident.opened_at.isoformat()}"


class Threads:
    """Posts into incident threads and keeps root messages showing their incident."""

    def __init__(
        self,
        sender: SlackSender,
        store: Store,
        clock: Callable[[], datetime],
        links: Links = lambda _: (),
        *,
        outbox: Outbox,
    ) -> None:
        self._sender = sender
        self._store = store
        self._clock = clock
        self._links = links
        self._outbox = outbox

    def root(self, alarm: Alarm, incident: Incident, likely: str = "") -> msg.SlackText:
        """The incident's root message as it stands, with the alarm's link buttons."""
        return msg.root_message(
            alarm, incident, self._clock(), likely=likely, links=self._links(alarm)
        )

    async def post(
        self,
        channel: str,
        text: msg.SlackText,
        thread_ts: str | None = None,
        *,
        incident: Incident | None = None,
        kind: str = "reply",
        delivery: str = "",
        after: str = "",
    ) -> Sent:
        """Post ``text`` through the outbox (``Sent.queued``: it is kept and posted later); its
        metadata names ``incident``, and its root (``kind="root"``) is one delivery however
        often it is tried. ``after``: the delivery whose message is the thread, when it may not
        be in Slack yet."""
        about = {"kind": kind}
        if incident is not None:
            about["incident"] = incident.key
            if kind == "root":
                delivery = root_delivery(incident)
                about["opened_at"] = incident.opened_at.isoformat()
        return await self._outbox.post(
            channel,
            text.text,
            text.blocks,
            thread_ts=thread_ts or "",
            about=about,
            delivery=delivery,
            after=after,
        )

    async def update(self, channel: str, ts: str, text: msg.SlackText) -> Sent:
        return await self._sender.update(channel, ts, text.text, text.blocks)

    async def tell(self, channel: str, user: str, text: str) -> None:
        """An ephemeral answer for the person who pressed a button."""
        await self._sender.ephemeral(channel, user, text)

    async def edit_root(self, incident: Incident) -> None:
        """Redraw the incident's root message (state, acknowledgement, mute, resolution, what
        its run points at, and how late it was posted when Slack was unreachable)."""
        if not incident.root_ts:
            return
        alarm = await snapshot(self._store, incident.key)
        if alarm is None:
            return
        likely = await likely_line(self._store, incident)
        root = self.root(alarm, incident, likely)
        late = await self._outbox.late_note(root_delivery(incident))
        text, blocks = with_note(root.text, root.blocks, late)
        await self._sender.update(incident.channel, incident.root_ts, text, blocks)
