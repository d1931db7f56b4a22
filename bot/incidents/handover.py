"""The shift hand-over: what the next person on call needs to know, read from the store.

For a shift (``start`` to ``end``): the incidents still open at ``end`` (newest first, with
their age, who acknowledged them and a link to their thread), the incidents opened or resolved
during the shift (how many, how long they fired within it, the alarms that fired most), and the
playbook runs people started. Incidents are read per route (the channel and playbook an alarm
lands on, as ``bot.incidents`` names it) for the configured routes and the default playbooks;
an incident opened more than ``LOOKBACK`` before the shift ended is not looked at.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.alarms.routing import DEFAULT_PLAYBOOK, HEALTH_PLAYBOOK
from bot.config import Settings
from bot.incidents.changes import thread_of
from bot.outbound.sender import SlackSender
from bot.store.base import Incident, RunRecord, Store

LOOKBACK = timedelta(days=30)  # how old an incident may be and still be listed as open
PER_ROUTE = 500  # incidents read per route, at most
PER_CHANNEL = 200  # runs read per channel, at most
NOISIEST = 3  # alarms named as the noisiest
PEOPLE = frozenset({"slash", "button", "modal"})  # run sources a person started


@dataclass(frozen=True)
class OpenIncident:
    incident: Incident
    link: str  # the thread's permalink; "" when Slack would not say


@dataclass(frozen=True)
class Handover:
    start: datetime
    end: datetime
    still_open: tuple[OpenIncident, ...]  # newest first
    opened: int
    resolved: int
    firing: timedelta  # the time incidents fired within the shift, added up
    noisiest: tuple[tuple[str, int], ...]  # (alarm name, incidents opened in the shift)
    runs: tuple[RunRecord, ...]  # newest first


def route_names(settings: Settings) -> list[str]:
    """Every route an incident can be filed under, as ``channel/playbook``."""
    default = settings.slack.default_channel
    names = [f"{r.channel or default}/{r.playbook}" for r in settings.routes]
    names += [f"{default}/{DEFAULT_PLAYBOOK}", f"{default}/{HEALTH_PLAYBOOK}"]
    return list(dict.fromkeys(names))


def run_channels(settings: Settings) -> list[str]:
    """The channels runs are read from: every route's, and the default channel."""
    default = settings.slack.default_channel
    return list(dict.fromkeys([*(r.channel or default for r in settings.routes), default]))


async def build_handover(
    settings: Settings, store: Store, sender: SlackSender, start: datetime, end: datetime
) -> Handover:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    found = await asyncio.gather(
        *(
            store.incidents_of_route(name, end - LOOKBACK, PER_ROUTE)
            for name in route_names(settings)
        )
    )
    incidents = [inc for batch in found for inc in batch if inc.opened_at <= end]
    still_open = sorted(
        (inc for inc in incidents if _open_at(inc, end)), key=lambda i: i.opened_at, reverse=True
    )
    links = await asyncio.gather(*(thread_link(sender, inc) for inc in still_open))
    opened = [inc for inc in incidents if start <= inc.opened_at]
    resolved = [inc for inc in incidents if inc.resolved_at and start <= inc.resolved_at <= end]
    noisy = Counter(inc.alarm_name for inc in opened).most_common(NOISIEST)
    runs = await _people_runs(store, run_channels(settings), start, end)
    return Handover(
        start=start,
        end=end,
        still_open=tuple(OpenIncident(i, link) for i, link in zip(still_open, links, strict=True)),
        opened=len(opened),
        resolved=len(resolved),
        firing=sum((_firing(inc, start, end) for inc in incidents), timedelta()),
        noisiest=tuple(noisy),
        runs=runs,
    )


def _open_at(incident: Incident, end: datetime) -> bool:
    return incident.resolved_at is None or incident.resolved_at > end


def _firing(incident: Incident, start: datetime, end: datetime) -> timedelta:
    """How long ``incident`` was open within the shift."""
    stop = min(incident.resolved_at or end, end)
    return max(stop - max(incident.opened_at, start), timedelta())


async def thread_link(sender: SlackSender, incident: Incident) -> str:
    thread = thread_of(incident)
    return await sender.permalink(incident.channel, thread) if thread else ""


async def _people_runs(
    store: Store, channels: Iterable[str], start: datetime, end: datetime
) -> tuple[RunRecord, ...]:
    found = await asyncio.gather(*(store.recent_runs(c, PER_CHANNEL) for c in channels if c))
    runs = [
        run
        for batch in found
        for run in batch
        if run.source in PEOPLE and start <= run.started_at <= end
    ]
    return tuple(sorted(runs, key=lambda r: r.started_at, reverse=True))
