"""Changing incident state safely when several deliveries (and replicas) race: compare-and-set
on incident rows and on the key's latest state-change time, the alarm snapshot, and the
process's lock per name.

Besides the incident rows, three small records live in the store's schedule table:
``incident-last:<key>`` (the latest state-change time seen for the key, so that an ALARM older
than an OK already seen does not open anything) and ``incident-alarm:<key>`` (the alarm that
opened the key's latest incident: what the root shows when a button edits it, and what
*Re-run* runs against) and ``incident-likely:<key>`` (the first line of what the incident's
latest run points at, which every redraw of its root shows). The first changes only by
compare-and-set (``schedule_cas``), re-read on conflict, so that replicas writing at once never
move it back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.alarms.model import Alarm
from bot.errors import RetryLater
from bot.incidents.records import LikelyRecord, alarm_from_json, alarm_to_json
from bot.store.base import Incident, Store

log = logging.getLogger(__name__)

LAST_SEEN = "incident-last:"
ALARM_SNAPSHOT = "incident-alarm:"
LIKELY = "incident-likely:"
CAS_ATTEMPTS = 5

Edit = Callable[[Incident], Incident]


class Locks:
    """The process's lock for a name (an incident key, a route's storm); dropped when unused."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[name] = lock
        return lock


async def change(store: Store, incident: Incident, edit: Edit) -> Incident | None:
    """Apply ``edit`` with compare-and-set, re-reading on conflict; None if the incident is gone
    (resolved and replaced by another) or kept changing."""
    current = incident
    for _ in range(CAS_ATTEMPTS):
        changed = edit(current)
        if await store.incident_update(changed, current.version):
            return dataclasses.replace(changed, version=current.version + 1)
        fresh = await store.incident_get(current.key)
        if fresh is None or fresh.opened_at != current.opened_at:
            return None
        current = fresh
    return None


async def see(store: Store, alarm: Alarm, when: datetime, retry: timedelta) -> bool:
    """Move the key's latest state-change time forward to ``when`` (compare-and-set, so it never
    goes back, whichever replica writes); False when a newer one was seen: this message is the
    older one and changes nothing."""
    key = alarm.incident_key
    for _ in range(CAS_ATTEMPTS):
        last = await store.schedule_get(LAST_SEEN + key)
        if last is not None:
            seen = datetime.fromisoformat(last)
            if when < seen:
                log.info("%s of %s at %s is older than %s: ignored", alarm.state, key, when, last)
                return False
            if when == seen:
                return True
        if await store.schedule_cas(LAST_SEEN + key, last, when.isoformat()):
            return True
    raise RetryLater(f"the last state change of {key} kept changing", retry)


async def save_snapshot(store: Store, key: str, alarm: Alarm) -> None:
    await store.schedule_set(ALARM_SNAPSHOT + key, alarm_to_json(alarm))


async def snapshot(store: Store, key: str) -> Alarm | None:
    """The alarm that opened the key's latest incident, if it is still known."""
    raw = await store.schedule_get(ALARM_SNAPSHOT + key)
    return alarm_from_json(raw) if raw else None


async def save_likely(store: Store, incident: Incident, line: str) -> None:
    record = LikelyRecord(opened_at=incident.opened_at, line=line)
    await store.schedule_set(LIKELY + incident.key, record.to_json())


async def likely_line(store: Store, incident: Incident) -> str:
    """The first line of what the incident's latest run points at; "" before a run finished
    (or when the line is of an earlier incident of the key)."""
    raw = await store.schedule_get(LIKELY + incident.key)
    if not raw:
        return ""
    record = LikelyRecord.from_json(raw)
    return record.line if record.opened_at == incident.opened_at else ""


def thread_of(incident: Incident) -> str:
    """The thread the incident's replies go in: its own root, or its storm's."""
    return incident.root_ts or incident.storm_root_ts


def is_muted(incident: Incident, now: datetime) -> bool:
    return incident.muted_until is not None and incident.muted_until > now


def at_state(alarm: Alarm, when: datetime) -> Edit:
    def edit(incident: Incident) -> Incident:
        return dataclasses.replace(incident, state=alarm.state, state_changed_at=when)

    return edit


def utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
