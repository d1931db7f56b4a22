"""What an incident's timeline reads from Slack: the messages in its thread
(``conversations.replies``) and which of them are pinned (``pins.list``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.incidents.timeline import Message
from bot.outbound.sender import SlackSender
from bot.store.base import Incident

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
