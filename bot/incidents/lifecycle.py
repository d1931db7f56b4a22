"""Alarm → Slack thread: one live thread per alarm incident (account + region + alarm name).

The first ALARM of an incident posts a root message with buttons; the routed playbook's result
and a chart of the alarm's metric go in its thread. Repeats and notes reply in the thread; an OK
replies, edits the root to resolved and closes the incident, so the next ALARM opens a new one.

State follows each message's state-change time, not its arrival: a message older than what was
already seen for its key changes nothing. The store's conditional writes (``incident_create``,
compare-and-set ``incident_update``) and a per-key lock in the process make sure one root is
posted per incident, however many copies of a message arrive at once. Every message goes
through the outbox (``bot.outbound.outbox``), which keeps what Slack did not take until Slack
is back; a root posted late starts the run then (``bot/incidents/late_root.py``). A root Slack
refused leaves ``root_ts == ""``: the alarm is handled again, as is the next delivery.

The compare-and-set helpers and the small records beside the incident rows are
``bot/incidents/changes.py``; storm messages and their record ``bot/incidents/storm.py``; the
buttons ``bot/incidents/buttons.py``; the run and the chart that follow a root
``bot/incidents/followups.py``; what happened before, in the thread's first reply,
``bot/incidents/history.py``. Every Slack call goes through the sender (``bot.outbound``).

Storms are counted per route, and a route is named ``<channel>/<playbook>``: alarms that land
on the same playbook in the same channel are one storm, whichever ``[[routes]]`` entry matched.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.access import AccessPolicy
from bot.alarms.model import Alarm, AlarmSource
from bot.alarms.routing import RouteDecision, route
from bot.aws import AwsClients
from bot.config import Settings
from bot.errors import RetryLater, SlackUnavailable
from bot.incidents import messages as msg
from bot.incidents.buttons import IncidentButtons
from bot.incidents.changes import (
    Locks,
    at_state,
    change,
    is_muted,
    save_snapshot,
    see,
    snapshot,
    thread_of,
    utc,
)
from bot.incidents.followups import FollowUp, FollowUps, run_follow_ups
from bot.incidents.history import History
from bot.incidents.late_root import LateRoots
from bot.incidents.links import AlarmLinks
from bot.incidents.paging import Paging
from bot.incidents.storm import StormMessages
from bot.incidents.threads import Threads
from bot.incidents.timeline_store import change_state
from bot.leases import HeldLeases, held_lease
from bot.metrics import Metrics
from bot.outbound.outbox import Outbox
from bot.outbound.sender import SlackSender
from bot.playbooks.catalog import Catalog
from bot.run_journal import RunJournal, pending_run
from bot.runs import SlackRuns
from bot.store.base import Incident, Store
from bot.timings import DEFAULTS, Timings

log = logging.getLogger(__name__)


class Phase(StrEnum):
    """What a message does to its incident."""

    FIRING = "firing"  # ALARM; Health open or upcoming
    CLEARED = "cleared"  # OK; Health closed
    NOTE = "note"  # INSUFFICIENT_DATA and anything else: a note in the thread


def phase_of(alarm: Alarm) -> Phase:
    state = alarm.state.upper()
    if alarm.source is AlarmSource.HEALTH:
        return Phase.CLEARED if state == "CLOSED" else Phase.FIRING
    if state == "ALARM":
        return Phase.FIRING
    return Phase.CLEARED if state == "OK" else Phase.NOTE


def route_name(decision: RouteDecision) -> str:
    """What storms are counted by: the channel and playbook the alarm lands on."""
    return f"{decision.channel}/{decision.playbook}"


class Incidents:
    """The alarm → thread lifecycle, and the buttons on incident root messages."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        store: Store,
        sender: SlackSender,
        runs: SlackRuns,
        metrics: Metrics,
        aws: AwsClients,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timings: Timings = DEFAULTS,
        journal: RunJournal | None = None,
        held: HeldLeases | None = None,
        outbox: Outbox,
        paging: Paging | None = None,
    ) -> None:
        self._paging = paging  # pages what nobody acknowledges (``bot/incidents/paging.py``)
        self._journal = journal  # an incident's run is journaled from before its root is posted
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._timings = timings  # root lease and how soon to retry
        self._owner = f"incidents-{uuid.uuid4().hex[:12]}"  # who holds a root lease
        self._held = held if held is not None else HeldLeases()  # the leases it holds now
        self._lock = Locks()
        self._links = AlarmLinks(settings, catalog)
        self.outbox = outbox  # what must reach Slack (``bot.outbound.outbox``)
        self._threads = Threads(sender, store, clock, self._links, outbox=self.outbox)
        self._follow_ups = FollowUps(
            settings=settings,
            catalog=catalog,
            runs=runs,
            aws=aws,
            sender=sender,
            store=store,
            threads=self._threads,
            lock=self._lock,
            metrics=metrics,
            clock=clock,
            links=self._links,
        )
        self._history = History(
            settings=settings, store=store, sender=sender, threads=self._threads, metrics=metrics
        )
        self._late = LateRoots(
            store=store,
            threads=self._threads,
            follow_ups=self._follow_ups,
            history=self._history,
            lock=self._lock,
            metrics=metrics,
            journal=journal,
        )
        self.outbox.on_sent("root", self._late)
        self._buttons = IncidentButtons(
            settings=settings,
            catalog=catalog,
            store=store,
            access=AccessPolicy(settings.access, sender),
            threads=self._threads,
            follow_ups=self._follow_ups,
            sender=sender,  # the *Add note* modal
            metrics=metrics,
            clock=clock,
        )
        self._storms = StormMessages(
            settings=settings,
            store=store,
            sender=sender,
            lock=self._lock,
            owner=self._owner,
            lease=timings.storm_lease,
            retry=timings.store_retry,
            clock=clock,
            held=self._held,
        )

    # alarms

    async def handle(self, alarm: Alarm) -> None:
        """Apply one alarm message to its incident. Never raises for Slack; a store failure
        propagates so that the message is delivered again."""
        if alarm.source is AlarmSource.NOTIFICATION:
            await self.post_notification(alarm)
            return
        async with self._lock(alarm.incident_key):
            follow_ups = await self._apply(alarm)
        await run_follow_ups(follow_ups, alarm.incident_key, self._metrics)

    async def rerun(self, key: str, channel: str, thread_ts: str | None) -> bool:
        """Run incident ``key``'s playbook again in ``thread_ts`` (its run was interrupted by a
        restart: ``bot.run_recovery``); False when its alarm is not known any more."""
        alarm = await snapshot(self._store, key)
        if alarm is None:
            return False
        await self._follow_ups.run_playbook(alarm, channel, thread_ts, user="alarm", source="alarm")
        return True

    async def post_notification(self, alarm: Alarm) -> None:
        """Post a plain notification (subject and text) to the default channel: one delivery
        per message, kept by the outbox until Slack takes it."""
        channel = self._settings.slack.default_channel
        if not channel:
            log.error("no [slack] default_channel for notification %r", alarm.name)
            self._metrics.errors.labels("incident").inc()
            return
        delivery = f"notification:{alarm.message_id}" if alarm.message_id else ""
        await self._threads.post(
            channel, msg.notification_message(alarm), kind="notification", delivery=delivery
        )

    async def _apply(self, alarm: Alarm) -> list[FollowUp]:
        key = alarm.incident_key
        when = utc(alarm.changed_at or self._clock())
        if not await see(self._store, alarm, when, self._timings.store_retry):
            return []
        current = await self._store.incident_get(key)
        open_ = current if current is not None and current.is_open else None
        if open_ is not None and when < open_.state_changed_at:
            log.info("%s of %s is older than the incident's state: ignored", alarm.state, key)
            return []
        phase = phase_of(alarm)
        if phase is Phase.FIRING:
            if open_ is None:
                return await self._open(alarm, when, current)
            return await self._still_firing(open_, alarm, when)
        if open_ is None:
            if phase is Phase.CLEARED and current is not None and current.resolved_at == when:
                await self._threads.edit_root(
                    current
                )  # the same OK again: make sure the root shows it
            else:
                log.info("%s for %s with no open incident: nothing to update", alarm.state, key)
            return []
        if phase is Phase.CLEARED:
            await self._resolve(open_, alarm, when)
        else:
            await self._note(open_, alarm, when)
        return []

    async def _open(
        self, alarm: Alarm, when: datetime, previous: Incident | None
    ) -> list[FollowUp]:
        """A new incident: its row first (one winner), then its root message."""
        decision = route(alarm, self._settings.routes, self._settings.slack.default_channel)
        now = self._clock()
        muted = previous is not None and is_muted(previous, now)
        incident = Incident(
            key=alarm.incident_key,
            route=route_name(decision),
            channel=decision.channel,
            root_ts=previous.root_ts if previous and muted else "",
            state=alarm.state,
            opened_at=when,
            state_changed_at=when,
            alarm_name=alarm.name,
            muted_until=previous.muted_until if previous and muted else None,
            storm_root_ts=previous.storm_root_ts if previous and muted else "",
        )
        await save_snapshot(self._store, incident.key, alarm)
        if not await self._store.incident_create(incident):
            log.info("incident %s is already open elsewhere; not opening another", incident.key)
            return []
        await self._history.opened(incident, alarm)
        if self._paging is not None:
            await self._paging.opened(incident, alarm)
        thread = thread_of(incident)
        if muted and thread and incident.muted_until is not None:
            # Flapping while muted: back into the muted thread, no new root and no run.
            await self._threads.post(
                incident.channel, msg.firing_again(alarm, incident.muted_until), thread
            )
            await self._threads.edit_root(incident)
            return []
        return await self._post_root(incident, alarm)

    async def _post_root(self, incident: Incident, alarm: Alarm) -> list[FollowUp]:
        """The root message (or a place in the route's storm message); the run and the chart
        follow once the lock is released."""
        lease = f"incident-root:{incident.key}@{incident.opened_at.isoformat()}"
        root_lease = self._timings.root_lease
        async with held_lease(
            self._store, lease, self._owner, root_lease, self._clock, self._held
        ) as ours:
            if not ours:
                # Another replica is posting it — or was, and died (its lease runs out a lease
                # after its last renewal): look again then.
                raise RetryLater(
                    f"another replica is posting the root of {incident.key}", root_lease
                )
            fresh = await self._store.incident_get(incident.key)
            if fresh is None or fresh.opened_at != incident.opened_at or thread_of(fresh):
                return []  # posted (or replaced) while we waited for the lease
            pending = pending_run(incident.key)
            ts = await self._post_root_message(fresh, alarm)
        if not ts and self._journal is not None:
            await self._journal.remove(pending)  # no root (a retry journals it again), or a storm
        if ts is None:
            # Slack refused it: root_ts stays "", and a retry (or a later delivery) posts it.
            raise RetryLater(
                f"Slack did not take the root of {incident.key}", self._timings.slack_retry
            )
        if not ts:
            return []  # a storm's, or waiting in the outbox: posted late, it starts the run
        run_and_chart = self._follow_ups.after_root(
            alarm, incident.channel, ts, journal=self._journal, pending=pending
        )
        return self._history.first(incident, alarm, ts, run_and_chart)  # history replies first

    async def _post_root_message(self, incident: Incident, alarm: Alarm) -> str | None:
        """Post the root and save its ts; "" when the incident joined a storm or the root waits
        in the outbox, None when Slack refused it (then ``root_ts`` stays "" and a retry posts
        it)."""
        if await self._storms.joins_storm(incident):
            await self._join_storm(incident, alarm)
            return ""
        if self._journal is not None:  # a kill from here to the run's start loses no run
            await self._journal.add(pending_run(incident.key), incident=incident.key)
        sent = await self._threads.post(
            incident.channel,
            self._threads.root(alarm, incident),
            incident=incident,
            kind="root",
        )
        if not sent.ok:
            return "" if sent.queued else None
        ts = sent.ts
        if (
            await change(self._store, incident, lambda i: dataclasses.replace(i, root_ts=ts))
            is None
        ):
            log.error("root %s of incident %s posted but not saved", ts, incident.key)
            self._metrics.errors.labels("incident").inc()
        return ts

    async def _still_firing(self, open_: Incident, alarm: Alarm, when: datetime) -> list[FollowUp]:
        if not thread_of(open_):
            log.info("incident %s has no root yet; posting it now", open_.key)
            await save_snapshot(self._store, open_.key, alarm)
            changed = await change_state(self._store, open_, alarm, when)
            return await self._post_root(changed or open_, alarm)
        if when == open_.state_changed_at and alarm.state == open_.state:
            log.info("%s %s of %s seen before: nothing to do", alarm.state, when, open_.key)
            return []
        changed = await change_state(self._store, open_, alarm, when)
        if changed is not None:
            await self._threads.post(open_.channel, msg.still_firing(alarm), thread_of(open_))
        return []

    async def _resolve(self, open_: Incident, alarm: Alarm, when: datetime) -> None:
        def resolved(incident: Incident) -> Incident:
            return dataclasses.replace(at_state(alarm, when)(incident), resolved_at=when)

        changed = await change(self._store, open_, resolved)
        if changed is None:
            log.warning("incident %s changed under us; its OK was not applied", open_.key)
            return
        thread = thread_of(changed)
        if not thread:
            await self._late.post_resolved(changed, alarm)
            return
        reply = msg.resolved_reply(alarm, when - changed.opened_at)
        await self._threads.post(changed.channel, reply, thread)
        await self._threads.edit_root(changed)
        if changed.storm_root_ts and not changed.root_ts:
            await self._storms.update_entry(changed, alarm)

    async def _note(self, open_: Incident, alarm: Alarm, when: datetime) -> None:
        if when == open_.state_changed_at and alarm.state == open_.state:
            return
        changed = await change_state(self._store, open_, alarm, when)
        thread = thread_of(open_)
        if changed is not None and thread:
            await self._threads.post(open_.channel, msg.note_reply(alarm), thread)

    # storms

    async def _join_storm(self, incident: Incident, alarm: Alarm) -> None:
        """Coalesce the incident into its route's storm message; its replies go in that thread."""
        ts = await self._storms.join(incident, alarm)
        if not ts:  # nothing saved: the inbox calls again for as long as Slack is down
            raise SlackUnavailable(
                f"Slack did not take the storm message of {incident.route}",
                self._timings.slack_retry,
            )
        await change(self._store, incident, lambda i: dataclasses.replace(i, storm_root_ts=ts))
        await self._threads.post(incident.channel, msg.storm_reply(alarm), ts)

    # buttons

    async def on_button(self, body: Mapping[str, Any]) -> None:
        """One block_actions payload with ``incident_*`` buttons. Never raises."""
        await self._buttons.on_button(body)

    async def on_view(self, body: Mapping[str, Any]) -> None:
        """One ``view_submission`` of the *Add note* modal. Never raises."""
        await self._buttons.on_note(body)
