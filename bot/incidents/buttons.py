"""The buttons on an incident's root message: Acknowledge, Mute for an hour, Re-run.

Each checks the same access rules as ``/triage``; a refusal is an ephemeral answer for the
person who pressed it, never an exception."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.access import AccessPolicy
from bot.alarms.routing import route
from bot.config import Settings
from bot.errors import BotError
from bot.incidents import messages as msg
from bot.incidents.changes import change, snapshot, thread_of
from bot.incidents.followups import FollowUps
from bot.incidents.threads import Threads
from bot.metrics import Metrics
from bot.playbooks.catalog import Catalog
from bot.render.mrkdwn import escape
from bot.store.base import Incident, Store

log = logging.getLogger(__name__)

MUTE_FOR = timedelta(hours=1)
FAILED = "Something went wrong on triagebot's side; the details are in its log."


class IncidentButtons:
    """One ``block_actions`` payload with ``incident_*`` buttons → the incident changed."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        store: Store,
        access: AccessPolicy,
        threads: Threads,
        follow_ups: FollowUps,
        metrics: Metrics,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._store = store
        self._access = access
        self._threads = threads
        self._follow_ups = follow_ups
        self._metrics = metrics
        self._clock = clock

    async def on_button(self, body: Mapping[str, Any]) -> None:
        """Do what each incident button says. Never raises."""
        user = str((body.get("user") or {}).get("id", ""))
        channel = str(
            (body.get("channel") or {}).get("id", "")
            or (body.get("container") or {}).get("channel_id", "")
        )
        for action in body.get("actions") or []:
            action_id = str(action.get("action_id", ""))
            if not action_id.startswith(msg.ACTION_PREFIX):
                continue
            try:
                refusal = await self._button(action_id, str(action.get("value", "")), user, channel)
            except BotError as exc:
                refusal = escape(exc.user_message)  # plain text: it may repeat input
            except Exception:
                log.exception("incident button %s failed", action_id)
                self._metrics.errors.labels("button").inc()
                refusal = FAILED
            if refusal:
                await self._threads.tell(channel, user, refusal)

    async def _button(self, action_id: str, key: str, user: str, channel: str) -> str | None:
        """Do what the button says; return why not (for the person who pressed it), or None."""
        refused = self._access.channel_refusal(channel)
        if refused:
            return refused
        incident = await self._store.incident_get(key)
        if incident is None or incident.channel != channel:
            # Gone — or the key (guessable: it is the alarm's) names another channel's incident
            # in a forged payload: buttons act on the incidents of the channel they are in.
            return "triagebot has no record of this incident in this channel."
        if action_id == msg.RERUN_ACTION:
            return await self._rerun(incident, user, channel)
        if action_id not in (msg.ACK_ACTION, msg.MUTE_ACTION):
            return None
        if not incident.is_open:
            return "This incident is already resolved."
        if action_id == msg.ACK_ACTION:
            changed = await change(
                self._store, incident, lambda i: dataclasses.replace(i, acknowledged_by=user)
            )
        else:
            until = self._clock() + MUTE_FOR
            changed = await change(
                self._store, incident, lambda i: dataclasses.replace(i, muted_until=until)
            )
            if changed is not None and thread_of(changed):
                reply = msg.muted_reply(user, until)
                await self._threads.post(changed.channel, reply, thread_of(changed))
        if changed is None:
            return "The incident changed while you pressed the button; please try again."
        await self._threads.edit_root(changed)
        return None

    async def _rerun(self, incident: Incident, user: str, channel: str) -> str | None:
        alarm = await snapshot(self._store, incident.key)
        if alarm is None:
            return "The alarm of this incident is no longer known; run `/triage alarm <name>`."
        decision = route(alarm, self._settings.routes, self._settings.slack.default_channel)
        refused = await self._access.refusal(self._catalog.get(decision.playbook), user, channel)
        if refused:
            return refused
        thread = thread_of(incident) or None
        await self._follow_ups.run_playbook(
            alarm, incident.channel, thread, user=user, source="button"
        )
        return None
