"""An alarm storm's one root message: past the threshold, a route's new incidents are listed in
one message (posted once, then edited) instead of each posting its own root.

The list lives in the store's schedule table as ``incident-storm:<route>`` and changes only by
compare-and-set (``schedule_cas``), re-read on conflict, so that replicas adding alarms at once
never drop one. A new storm message is posted by one replica at a time, under a lease on the
route; the others wait for it to be saved and join it. Its delivery id is saved in the record
(``starting``) before it is posted, so a replica that takes over from one that died (or lost
Slack's answer) between the post and saving it looks for that message and adopts it instead of
posting a second one. The message is edited after the route's
lock is released: joining is store work only, and the sender's edit budget (the latest content
of a message wins over edits still waiting) turns a burst of joins into a few edits. Since edits
from two replicas can reach Slack in either order, whoever edits the message checks the record
again afterwards and shows the newer list if it changed meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.alarms.model import Alarm
from bot.config import Settings
from bot.errors import RetryLater
from bot.incidents import messages as msg
from bot.incidents.changes import Locks
from bot.incidents.records import StormEntry, StormRecord
from bot.incidents.storm_gate import StormGate
from bot.leases import HeldLeases, held_lease
from bot.outbound.sender import SlackSender
from bot.store.base import Incident, Store

log = logging.getLogger(__name__)

STORM = "incident-storm:"
_CAS_ATTEMPTS = 5
_WAIT_ATTEMPTS = 12  # waits for another replica's new storm message: about 8 s in all


class StormMessages:
    """Each route's storm message and the alarms listed in it."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        sender: SlackSender,
        lock: Locks,
        owner: str,
        lease: timedelta,
        retry: timedelta,
        clock: Callable[[], datetime],
        held: HeldLeases,
    ) -> None:
        self._settings = settings
        self._store = store
        self._sender = sender
        self._lock = lock
        self._owner = owner  # who holds a route's storm lease
        self._held = held  # ... listed in the operator view while held
        self._lease = lease  # one replica starts a route's storm message at a time
        self._retry = retry  # the record kept changing under us: try again this soon
        self._clock = clock
        alarms = settings.alarms
        self._gate = StormGate(
            store, lock, threshold=alarms.storm_threshold, window=alarms.storm_window, retry=retry
        )

    async def joins_storm(self, incident: Incident) -> bool:
        """Whether a new incident is past its route's threshold (``bot/incidents/storm_gate.py``):
        then it is listed in the storm message instead of posting a root of its own."""
        return await self._gate.joins_storm(incident)

    async def join(self, incident: Incident, alarm: Alarm) -> str | None:
        """List the alarm in its route's running storm message, or start a new one: the storm
        message's ts; None when Slack did not take a new one (nothing is saved then)."""
        async with self._lock(STORM + incident.route):
            ts, joined = await self._add(incident, StormEntry.of(alarm))
        if joined is not None:
            await self._show(incident.route, joined)
        return ts

    async def update_entry(self, incident: Incident, alarm: Alarm) -> None:
        """Show the alarm's new state (an OK) in the storm message it is listed in."""
        async with self._lock(STORM + incident.route):
            for _ in range(_CAS_ATTEMPTS):
                raw, record = await self._read(incident.route)
                if record is None or record.ts != incident.storm_root_ts:
                    return
                if all(e.key != incident.key for e in record.entries):
                    return  # listed no more: newer alarms took its place
                entries = [
                    dataclasses.replace(e, state=alarm.state, reason=alarm.reason)
                    if e.key == incident.key
                    else e
                    for e in record.entries
                ]
                changed = dataclasses.replace(record, entries=entries)
                if await self._store.schedule_cas(STORM + incident.route, raw, changed.to_json()):
                    break
            else:
                log.warning("storm of %s kept changing; %s not updated", incident.route, alarm.name)
                return
        await self._show(incident.route, changed)

    async def _add(
        self, incident: Incident, entry: StormEntry
    ) -> tuple[str | None, StormRecord | None]:
        """Add the entry to the running storm record (read, change, compare-and-set), or start
        a new storm message: the storm message's ts, and the record to show when it changed."""
        for attempt in range(_WAIT_ATTEMPTS):
            raw, record = await self._read(incident.route)
            if record is not None and self._running(record, incident):
                joined = record.joined(entry, max(incident.opened_at, record.last))
                if await self._store.schedule_cas(STORM + incident.route, raw, joined.to_json()):
                    return record.ts, joined
                continue
            lease = STORM + incident.route
            async with held_lease(
                self._store, lease, self._owner, self._lease, self._clock, self._held
            ) as ours:
                started = await self._start(incident, entry) if ours else ""
            if ours:
                if started != "":
                    return started, None
                continue
            # Another replica is posting the route's storm message: join it once it is saved.
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise RetryLater(f"the storm of {incident.route} kept changing", self._retry)

    async def _start(self, incident: Incident, entry: StormEntry) -> str | None:
        """Post a new storm message and save it (holding the route's storm lease): its ts; ""
        when a storm turned out to be running after all (join it), None when Slack failed."""
        raw, record = await self._read(incident.route)
        if record is not None and self._running(record, incident):
            return ""
        if record is not None and self._recent_start(record, incident):
            # An earlier start may have posted it (and died, or lost Slack's answer).
            answered, found = await self._sender.look_for(incident.channel, record.starting)
            if found is not None:
                log.info("storm message %s of %s adopted", found.ts, incident.route)
            elif not answered:
                return None  # it may be there: never post it again without knowing
            delivery = record.starting
        else:
            found = None
            delivery = f"storm:{uuid.uuid4().hex}"
            marked = dataclasses.replace(
                record or StormRecord(incident.channel, "", incident.opened_at, []),
                starting=delivery,
                starting_at=incident.opened_at,
            )
            if not await self._store.schedule_cas(STORM + incident.route, raw, marked.to_json()):
                return ""  # an alarm of the last storm changed it: look again
            raw = marked.to_json()
        if found is None:
            text = self._text(incident.route, [entry])
            found = await self._sender.post(
                incident.channel, text.text, text.blocks, delivery=delivery
            )
            if not found.ok:
                return None
        ts = found.ts
        started = StormRecord(incident.channel, ts, incident.opened_at, [entry])
        for _ in range(_CAS_ATTEMPTS):
            if await self._store.schedule_cas(STORM + incident.route, raw, started.to_json()):
                if found.adopted:
                    await self._show(incident.route, started)  # it showed the earlier alarm
                return ts
            # An alarm of the last storm resolved meanwhile; no one else starts one while we
            # hold the lease, unless it ran out.
            raw, record = await self._read(incident.route)
            if record is not None and self._running(record, incident):
                log.warning("storm message %s of %s lost to another replica", ts, incident.route)
                return ""
        raise RetryLater(f"the storm of {incident.route} kept changing", self._retry)

    def _recent_start(self, record: StormRecord, incident: Incident) -> bool:
        """Whether the record names a storm message started within the incident's window."""
        if not record.starting or record.starting_at is None:
            return False
        return incident.opened_at - record.starting_at <= self._settings.alarms.storm_window

    def _running(self, record: StormRecord, incident: Incident) -> bool:
        """Whether the incident belongs in the stored storm (same channel, within the window)."""
        return (
            bool(record.ts)  # not a storm message still being started
            and record.channel == incident.channel
            and incident.opened_at - record.last <= self._settings.alarms.storm_window
        )

    async def _show(self, route_key: str, saved: StormRecord) -> None:
        """Edit the storm message to list ``saved``'s entries; then, while the record has
        changed since (another replica's edit may have reached Slack before ours), show that."""
        shown = saved
        for _ in range(_CAS_ATTEMPTS):
            text = self._text(route_key, shown.entries, shown.earlier)
            await self._sender.update(saved.channel, saved.ts, text.text, text.blocks)
            _, latest = await self._read(route_key)
            if latest is None or latest.ts != saved.ts or latest == shown:
                return
            shown = latest

    def _text(self, route_key: str, entries: list[StormEntry], earlier: int = 0) -> msg.SlackText:
        settings = self._settings.alarms
        return msg.storm_message(
            entries,
            earlier=earlier,
            playbook=route_key.rpartition("/")[2],
            threshold=settings.storm_threshold,
            window=settings.storm_window,
        )

    async def _read(self, route_key: str) -> tuple[str | None, StormRecord | None]:
        """The route's storm record as stored (for compare-and-set) and as read."""
        raw = await self._store.schedule_get(STORM + route_key)
        return raw, (StormRecord.from_json(raw) if raw else None)
