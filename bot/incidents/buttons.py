"""The buttons on an incident's root message: Acknowledge, Re-run and Mute (a choice of
durations; a root drawn before the choice has a *Mute 1h* button) while it is open; Re-run and
*Add note* (``bot/incidents/notes.py``) once it is resolved; and the overflow menu's *Timeline*
(``bot/incidents/timeline_slack.py``). Acknowledge and Mute are kept in the incident's events
for its timeline.

Each checks the same access rules as ``/triage``; a refusal is an ephemeral answer for the
person who pressed it, never an exception."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.access import AccessPolicy
from bot.alarms.routing import route
from bot.config import Settings
from bot.durations import parse_duration
from bot.errors import BotError
from bot.incidents import messages as msg
from bot.incidents.changes import change, snapshot, thread_of
from bot.incidents.followups import FollowUps
from bot.incidents.notes import IncidentNotes
from bot.incidents.threads import Threads
from bot.incidents.timeline import ACKNOWLEDGED, MUTED, Event
from bot.incidents.timeline_slack import TimelineExports
from bot.incidents.timeline_store import note_event
from bot.metrics import Metrics
from bot.outbound.sender import SlackSender
from bot.playbooks.catalog import Catalog
from bot.render.mrkdwn import escape
from bot.store.base import Incident, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pressed:
    """Who pressed a control on which message, and the trigger a modal may be opened with."""

    user: str
    channel: str
    message_ts: str
    trigger_id: str


def mute_for(action: Mapping[str, Any]) -> timedelta:
    """The duration chosen in the Mute select (an hour for the older *Mute 1h* button, or a
    choice that is not one of ours)."""
    chosen = str((action.get("selected_option") or {}).get("value", ""))
    return parse_duration(chosen) if chosen in msg.MUTE_CHOICES else MUTE_FOR


MUTE_FOR = timedelta(hours=1)  # the *Mute 1h* button of roots drawn before the choice
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
        sender: SlackSender,
        metrics: Metrics,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._store = store
        self._access = access
        self._threads = threads
        self._follow_ups = follow_ups
        self._notes = IncidentNotes(
            store=store, sender=sender, threads=threads, access=access, metrics=metrics
        )
        self._timelines = TimelineExports(
            store=store, sender=sender, access=access, timezone=settings.slack.timezone
        )
        self._metrics = metrics
        self._clock = clock

    async def on_button(self, body: Mapping[str, Any]) -> None:
        """Do what each incident button says. Never raises."""
        user = str((body.get("user") or {}).get("id", ""))
        channel = str(
            (body.get("channel") or {}).get("id", "")
            or (body.get("container") or {}).get("channel_id", "")
        )
        pressed = Pressed(
            user=user,
            channel=channel,
            message_ts=str((body.get("container") or {}).get("message_ts", "")),
            trigger_id=str(body.get("trigger_id", "")),
        )
        for action in body.get("actions") or []:
            action_id = str(action.get("action_id", ""))
            if not action_id.startswith(msg.ACTION_PREFIX):
                continue
            try:
                refusal = await self._button(action_id, action, pressed)
            except BotError as exc:
                refusal = escape(exc.user_message)  # plain text: it may repeat input
            except Exception:
                log.exception("incident button %s failed", action_id)
                self._metrics.errors.labels("button").inc()
                refusal = FAILED
            if refusal:
                await self._threads.tell(channel, user, refusal)

    async def on_note(self, body: Mapping[str, Any]) -> None:
        """One submission of the *Add note* modal. Never raises."""
        await self._notes.on_submit(body)

    async def _incident(self, action: Mapping[str, Any], pressed: Pressed) -> Incident | None:
        """The incident the control is on: a button names its key (guessable: it is the
        alarm's); a select, the overflow menu and *Add note* act on the incident whose root they
        are on."""
        if action.get("type") in ("static_select", "overflow") or action.get("action_id") in (
            msg.NOTE_ACTION,
            msg.MORE_ACTION,
        ):
            return await self._store.incident_find_by_root(pressed.channel, pressed.message_ts)
        return await self._store.incident_get(str(action.get("value", "")))

    async def _button(
        self, action_id: str, action: Mapping[str, Any], pressed: Pressed
    ) -> str | None:
        """Do what the button says; return why not (for the person who pressed it), or None."""
        user, channel = pressed.user, pressed.channel
        refused = self._access.channel_refusal(channel)
        if refused:
            return refused
        incident = await self._incident(action, pressed)
        if incident is None or incident.channel != channel:
            # Gone — or the key names another channel's incident in a forged payload: buttons
            # act on the incidents of the channel they are in.
            return "triagebot has no record of this incident in this channel."
        if action_id == msg.RERUN_ACTION:
            return await self._rerun(incident, user, channel)
        if action_id == msg.NOTE_ACTION:
            return await self._notes.ask(incident, user, pressed.trigger_id)
        if action_id == msg.MORE_ACTION:
            chosen = str((action.get("selected_option") or {}).get("value", ""))
            return await self._timelines.export(incident) if chosen == msg.TIMELINE_CHOICE else None
        if action_id not in (msg.ACK_ACTION, msg.MUTE_ACTION):
            return None
        if not incident.is_open:
            return "This incident is already resolved."
        now = self._clock()
        if action_id == msg.ACK_ACTION:
            event = Event(now, ACKNOWLEDGED, user)
            changed = await change(
                self._store, incident, lambda i: dataclasses.replace(i, acknowledged_by=user)
            )
        else:
            until = now + mute_for(action)
            event = Event(now, MUTED, user, until=until)
            changed = await change(
                self._store, incident, lambda i: dataclasses.replace(i, muted_until=until)
            )
            if changed is not None and thread_of(changed):
                reply = msg.muted_reply(user, until)
                await self._threads.post(changed.channel, reply, thread_of(changed))
        if changed is None:
            return "The incident changed while you pressed the button; please try again."
        await note_event(self._store, changed, event)
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
