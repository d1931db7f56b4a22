"""An incident's timeline in Slack: what it reads there (the messages in its thread,
``conversations.replies``, and which of them are pinned, ``pins.list``) and the export, a
Markdown file uploaded to the thread — from *Timeline* in the root's overflow menu or the
*Export timeline* message shortcut on any message of the thread."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.access import AccessPolicy
from bot.incidents.timeline import Message, timeline_markdown
from bot.incidents.timeline_store import gather
from bot.outbound.sender import SlackSender
from bot.render.mrkdwn import file_name, file_title
from bot.store.base import Incident, Store

SHORTCUT_CALLBACK = "incident_timeline"  # the message shortcut *Export timeline*
FAILED = "Something went wrong on triagebot's side; the timeline was not exported."

log = logging.getLogger(__name__)


def message_of(raw: Mapping[str, Any], pinned: frozenset[str]) -> Message | None:
    """One message as the timeline shows it; None for one with no time."""
    ts = str(raw.get("ts") or "")
    try:
        at = datetime.fromtimestamp(float(ts), UTC)
    except ValueError:
        return None
    bot = bool(raw.get("bot_id")) or raw.get("subtype") == "bot_message"
    return Message(
        at=at,
        user=str(raw.get("user") or ""),
        text=str(raw.get("text") or ""),
        bot=bot,
        pinned=ts in pinned,
    )


async def thread_messages(sender: SlackSender, incident: Incident) -> list[Message]:
    """The incident thread's messages, oldest first; none when it has no thread or Slack
    would not say (the timeline is still worth having without them)."""
    if not incident.root_ts:
        return []
    raw = await sender.replies(incident.channel, incident.root_ts)
    if raw is None:
        log.warning("no messages of %s's thread for its timeline", incident.key)
        return []
    pinned = await sender.pinned(incident.channel)
    if pinned is None:
        log.warning("no pins of %s for the timeline of %s", incident.channel, incident.key)
    found = (message_of(m, pinned or frozenset()) for m in raw)
    return [m for m in found if m is not None]


class TimelineExports:
    """Upload an incident's timeline to its thread."""

    def __init__(
        self, *, store: Store, sender: SlackSender, access: AccessPolicy, timezone: str
    ) -> None:
        self._store = store
        self._sender = sender
        self._access = access
        self._zone = ZoneInfo(timezone)

    async def export(self, incident: Incident) -> str | None:
        """Upload the file; why not (for the person who asked), or None."""
        facts = await gather(self._store, incident, await thread_messages(self._sender, incident))
        uploaded = await self._sender.upload(
            incident.channel,
            content=timeline_markdown(facts, self._zone),
            filename=file_name(f"timeline-{incident.alarm_name}", ".md"),
            title=file_title(f"Timeline: {incident.alarm_name}"),
            thread_ts=incident.root_ts or None,
        )
        if not uploaded.ok:
            log.warning("no timeline of %s: %s", incident.key, uploaded.error)
            return "Slack did not take the timeline file; please try again."
        return None

    async def on_shortcut(self, body: Mapping[str, Any]) -> None:
        """*Export timeline* on a message of an incident's thread (already acked). Never
        raises."""
        user = str((body.get("user") or {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        message = body.get("message") or {}
        root_ts = str(message.get("thread_ts") or message.get("ts") or "")
        try:
            refusal = self._access.channel_refusal(channel)
            incident = await self._store.incident_find_by_root(channel, root_ts)
            if refusal is None and incident is None:
                refusal = "This message is not in the thread of an incident triagebot knows."
            if refusal is None and incident is not None:
                refusal = await self.export(incident)
        except Exception:
            log.exception("the timeline of %s/%s failed", channel, root_ts)
            refusal = FAILED
        if refusal and channel:
            await self._sender.ephemeral(channel, user, refusal)
