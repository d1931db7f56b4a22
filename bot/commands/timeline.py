"""``triagebot timeline INCIDENT_ID``: an incident's timeline, as Markdown, from the store.

``INCIDENT_ID`` is an incident key (``123456789012/us-east-1/prod-api-5xx``: its latest
incident) or a key with the time the incident opened (``<key>@2026-12-01T14:02:05+00:00``, as
the exported file's header names it). Times are in ``[slack] timezone``. With a Slack bot token
(``SLACK_BOT_TOKEN``) it also lists the messages in the incident's thread, pins marked.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.errors import UsageError
from bot.incidents.timeline import Message, timeline_markdown
from bot.incidents.timeline_store import gather
from bot.store import open_store
from bot.store.base import Incident, Store

LOOKED_AT = 1000  # of the key's incidents opened since the one named, newest first


async def timeline(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    try:
        await store.start()
        print(await incident_timeline(store, settings, args.incident), end="")
    finally:
        await store.close()
    return 0


async def incident_timeline(store: Store, settings: Settings, incident_id: str) -> str:
    """The Markdown timeline of the incident ``incident_id`` names (see ``find_incident``)."""
    incident = await find_incident(store, incident_id)
    messages = await _thread_messages(settings, incident)
    return timeline_markdown(
        await gather(store, incident, messages), ZoneInfo(settings.slack.timezone)
    )


async def _thread_messages(settings: Settings, incident: Incident) -> list[Message]:
    if settings.secrets.slack_bot_token is None:
        return []
    from bot.incidents.timeline_slack import thread_messages
    from bot.metrics import Metrics
    from bot.outbound.client import make_web_client
    from bot.outbound.sender import SlackSender

    return await thread_messages(SlackSender(make_web_client(settings), Metrics()), incident)


async def find_incident(store: Store, incident_id: str) -> Incident:
    """The incident ``incident_id`` names; ``UsageError`` saying why when there is none."""
    key, at, opened_text = incident_id.partition("@")
    if not at:
        found = await store.incident_get(key)
    else:
        try:
            opened = datetime.fromisoformat(opened_text)
        except ValueError:
            raise UsageError(
                f"{opened_text!r} is not a time; use <key>@2026-12-01T14:02:05+00:00"
            ) from None
        found = next(
            (i for i in await store.incidents_of(key, opened, LOOKED_AT) if i.opened_at == opened),
            None,
        )
    if found is None:
        raise UsageError(f"no incident {incident_id!r} in the store")
    return found
