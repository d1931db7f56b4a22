"""What an incident's timeline reads from the store, and the one record it adds.

The incident row keeps who acknowledged, when a mute ends and the alarm's latest state, not
when anyone pressed the button nor the states between; so each *Acknowledge* and *Mute*, each
state change and repeat notification of an open incident and each chart posted in its thread is
also appended to ``incident-events:<key>@<opened at>`` in the schedule table (a JSON list, by
compare-and-set: replicas appending at once both land). Runs are the store's runs of the
incident's channel posted in its thread; a run's key findings are the first line under each
step heading its stored text output (``render_text``) shows for the steps that warned.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime

from bot.alarms.model import Alarm
from bot.incidents.changes import CAS_ATTEMPTS, at_state, change, snapshot
from bot.incidents.timeline import (
    CHART,
    EVENT_KINDS,
    REPEATED,
    STATE,
    Event,
    Facts,
    Message,
    RunFacts,
)
from bot.store.base import Incident, Store

log = logging.getLogger(__name__)

EVENTS = "incident-events:"
RUNS_READ = 200  # of the channel's latest runs, the ones in the thread are kept
WARNED = "warn"


def _events_name(incident: Incident) -> str:
    return f"{EVENTS}{incident.key}@{incident.opened_at.isoformat()}"


async def record_event(store: Store, incident: Incident, event: Event) -> bool:
    """Append ``event`` to the incident's events; False if the list kept changing."""
    if event.kind not in EVENT_KINDS:
        raise ValueError(f"event kind must be one of {', '.join(sorted(EVENT_KINDS))}")
    item = {"at": event.at.isoformat(), "kind": event.kind, "who": event.who}
    if event.until is not None:
        item["until"] = event.until.isoformat()
    if event.detail:
        item["detail"] = event.detail
    name = _events_name(incident)
    for _ in range(CAS_ATTEMPTS):
        raw = await store.schedule_get(name)
        listed = json.loads(raw) if raw else []
        if await store.schedule_cas(name, raw, json.dumps([*listed, item])):
            return True
    return False


async def note_event(store: Store, incident: Incident, event: Event) -> None:
    """``record_event``, logging when the event could not be added (the incident is saved)."""
    if not await record_event(store, incident, event):
        log.warning("the %s of %s is not in its timeline", event.kind, incident.key)


async def change_state(
    store: Store, incident: Incident, alarm: Alarm, when: datetime
) -> Incident | None:
    """``incident`` at ``alarm``'s state since ``when`` (``change``), and that change among its
    events: a new state, or the same one notified again."""
    changed = await change(store, incident, at_state(alarm, when))
    if changed is not None:
        kind = REPEATED if alarm.state == incident.state else STATE
        await note_event(store, changed, Event(when, kind, "", detail=alarm.state))
    return changed


async def chart_posted(store: Store, key: str, thread_ts: str, filename: str, at: datetime) -> None:
    """The chart ``filename`` went in the thread ``thread_ts``: an event of the key's incident
    whose thread that is (none when a later incident of the key has its own)."""
    incident = await store.incident_get(key)
    if incident is not None and thread_ts in (incident.root_ts, incident.storm_root_ts):
        await note_event(store, incident, Event(at, CHART, "", detail=filename))


async def events_of(store: Store, incident: Incident) -> list[Event]:
    raw = await store.schedule_get(_events_name(incident))
    return [
        Event(
            at=datetime.fromisoformat(item["at"]),
            kind=str(item["kind"]),
            who=str(item["who"]),
            until=datetime.fromisoformat(item["until"]) if item.get("until") else None,
            detail=str(item.get("detail", "")),
        )
        for item in (json.loads(raw) if raw else [])
    ]


def key_findings(output: str, warned: Sequence[str]) -> list[str]:
    """The first line under the heading of each step in ``warned``, in the output's order."""
    found = []
    for paragraph in output.split("\n\n"):
        heading, _, rest = paragraph.partition("\n")
        about = heading.split(" · ")[0].split()
        if about and about[-1] in warned and rest.strip():
            found.append(f"{about[-1]}: {rest.splitlines()[0].strip()}")
    return found


async def gather(store: Store, incident: Incident, messages: Sequence[Message] = ()) -> Facts:
    """The incident's facts from the store, with the thread's ``messages`` (from Slack)."""
    runs = []
    if incident.root_ts:
        for run in reversed(await store.recent_runs(incident.channel, RUNS_READ)):
            if run.thread_ts != incident.root_ts:
                continue
            warned = [step for step, status in run.step_statuses.items() if status == WARNED]
            output = await store.run_output(run.run_id) if warned else None
            runs.append(RunFacts(run, key_findings(output or "", warned)))
    return Facts(
        incident=incident,
        alarm=await snapshot(store, incident.key),
        events=await events_of(store, incident),
        runs=runs,
        messages=messages,
    )
