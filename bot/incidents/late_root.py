"""An incident's root that the outbox posted late (Slack did not take it when the alarm came):
its ts is saved, the root is redrawn when the incident resolved meanwhile (the resolution goes
into its thread right after it), the history reply comes first in its thread, and the routed
playbook runs there all the same. And
the OK of an incident whose root never made it to Slack (``post_resolved``)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

from bot.alarms.model import Alarm
from bot.incidents import messages as msg
from bot.incidents.changes import Locks, change, snapshot
from bot.incidents.followups import FollowUps, run_follow_ups
from bot.incidents.history import History
from bot.incidents.threads import Threads, root_delivery
from bot.metrics import Metrics
from bot.run_journal import RunJournal, pending_run
from bot.store.base import Incident, Store

log = logging.getLogger(__name__)


class LateRoots:
    """``Outbox.on_sent`` for roots: what ``Incidents`` does after a root, done late."""

    def __init__(
        self,
        *,
        store: Store,
        threads: Threads,
        follow_ups: FollowUps,
        history: History,
        lock: Locks,
        metrics: Metrics,
        journal: RunJournal | None,
    ) -> None:
        self._store = store
        self._threads = threads
        self._follow_ups = follow_ups
        self._history = history  # the thread's first reply, before the run and the chart
        self._lock = lock
        self._metrics = metrics
        self._journal = journal

    async def __call__(self, about: Mapping[str, str], ts: str) -> None:
        key = about.get("incident", "")
        async with self._lock(key):
            incident = await self._store.incident_get(key)
            if (
                incident is None
                or incident.opened_at.isoformat() != about.get("opened_at")
                or incident.root_ts
            ):
                return  # saved already (the post was found after a crash), or another incident
            changed = await change(
                self._store, incident, lambda i: dataclasses.replace(i, root_ts=ts)
            )
            alarm = await snapshot(self._store, key)
            if changed is None or alarm is None:
                log.error("late root %s of incident %s posted but not saved", ts, key)
                self._metrics.errors.labels("incident").inc()
                return
            log.info("root of incident %s posted late: %s", key, ts)
            if not changed.is_open:
                await self._threads.edit_root(changed)  # resolved meanwhile: the root says so
            pending = pending_run(key)
            if self._journal is not None:  # a kill from here to the run's start loses no run
                await self._journal.add(pending, incident=key)
        follow_ups = self._follow_ups.after_root(
            alarm, changed.channel, ts, journal=self._journal, pending=pending
        )
        await run_follow_ups(
            self._history.first(changed, alarm, ts, follow_ups), key, self._metrics
        )

    async def post_resolved(self, incident: Incident, alarm: Alarm) -> None:
        """The root never made it to Slack and the alarm is over: the root, resolved (one
        still in the outbox is redrawn resolved once it is posted), and the resolution in its
        thread."""
        opening = await snapshot(self._store, incident.key) or alarm
        sent = await self._threads.post(
            incident.channel,
            self._threads.root(opening, incident),
            incident=incident,
            kind="root",
        )
        if sent.ok:
            ts = sent.ts
            await change(self._store, incident, lambda i: dataclasses.replace(i, root_ts=ts))
        if (sent.ok or sent.queued) and incident.resolved_at is not None:
            reply = msg.resolved_reply(alarm, incident.resolved_at - incident.opened_at)
            after = "" if sent.ok else root_delivery(incident)
            await self._threads.post(incident.channel, reply, sent.ts or None, after=after)
