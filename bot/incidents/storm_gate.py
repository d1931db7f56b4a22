"""Whether a new incident gets its own root or joins its route's storm message.

An incident joins the storm when ``[alarms] storm_threshold`` incidents of its route, opened
within ``storm_window`` of it, were decided before it. Decisions are taken one at a time per
route, however many replicas open incidents at once: the route's recent decisions live in one
record (``incident-storm-gate:<route>`` in the schedule table), changed only by compare-and-set
and read consistently, and within a process one decision per route is under way at a time (so
a lost compare-and-set means another replica decided meanwhile). Counting the route's incident
rows instead decides from whatever rows happen to exist: a burst opened by three replicas at
once found every row already there and gave none of them its own root, and an index a second
behind would give more than the threshold.

The record keeps the ``threshold`` newest decisions (by the time the alarm changed state): at
least ``threshold`` decisions fall within the window of an incident exactly when the oldest of
those kept does. An incident decided before (a retry after Slack refused its root, or after the
replica deciding it died) gets the decision it had: a storm decision pushed out of the newest is
older than all of them and so decided "storm" again, and the own-root decisions are kept apart,
for a day and at most ``_OWN_KEPT`` of them, since newer alarms would otherwise push one out and
its retry would join the storm instead of posting the root it was given.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timedelta

from bot.errors import RetryLater
from bot.incidents.changes import Locks
from bot.store.base import Incident, Store

GATE = "incident-storm-gate:"
_ATTEMPTS = 20  # each compare-and-set lost to another replica's decision is one more try
_OWN_KEPT = 500  # own-root decisions remembered (a day's at most): a few KB per route
_OWN_FOR = timedelta(days=1)  # ... and for how long after the newest decision

Decision = tuple[str, datetime, bool]  # the incident's key, when it opened, and if it joined


class StormGate:
    """Own root or storm, decided once per incident and in turn per route."""

    def __init__(
        self,
        store: Store,
        lock: Locks,
        *,
        threshold: int,
        window: timedelta,
        retry: timedelta,
    ) -> None:
        self._store = store
        self._lock = lock
        self._threshold = threshold
        self._window = window
        self._retry = retry  # the record kept changing: the inbox tries the alarm again this soon

    async def joins_storm(self, incident: Incident) -> bool:
        """True when the incident is past its route's threshold: it joins the storm message."""
        job = GATE + incident.route
        async with self._lock(job):
            return await self._decide(job, incident)

    async def _decide(self, job: str, incident: Incident) -> bool:
        for attempt in range(_ATTEMPTS):
            raw = await self._store.schedule_get(job)
            decided, own = _decode(raw)
            for key, opened_at, joined in [*decided, *own]:
                if (key, opened_at) == (incident.key, incident.opened_at):
                    return joined  # decided before (its root was refused, say): the same again
            since = incident.opened_at - self._window
            storm = len(decided) >= self._threshold and min(d[1] for d in decided) >= since
            mine: Decision = (incident.key, incident.opened_at, storm)
            newest = _newest([*decided, mine], self._threshold)
            if mine not in newest:
                return storm  # older than every decision kept: nothing to record
            if not storm:
                own = _newest([*own, mine], _OWN_KEPT)
                own = [d for d in own if d[1] >= newest[0][1] - _OWN_FOR]
            if await self._store.schedule_cas(job, raw, _encode(newest, own)):
                return storm
            await asyncio.sleep(random.uniform(0, min(0.01 * 2**attempt, 0.5)))
        raise RetryLater(f"the storm count of {incident.route} kept changing", self._retry)


def _newest(decisions: list[Decision], count: int) -> list[Decision]:
    return sorted(decisions, key=lambda d: d[1], reverse=True)[:count]


def _decode(raw: str | None) -> tuple[list[Decision], list[Decision]]:
    """The newest decisions, and the own-root decisions kept apart."""
    if not raw:
        return [], []
    data = json.loads(raw)
    return _listed(data["newest"]), _listed(data["own"])


def _listed(rows: list[list[object]]) -> list[Decision]:
    return [(str(k), datetime.fromisoformat(str(at)), bool(j)) for k, at, j in rows]


def _encode(newest: list[Decision], own: list[Decision]) -> str:
    return json.dumps(
        {
            name: [[key, at.isoformat(), joined] for key, at, joined in decisions]
            for name, decisions in (("newest", newest), ("own", own))
        }
    )
