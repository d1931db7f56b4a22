"""An incident's timeline as a Markdown file (the postmortem's first draft). Pure: what the
store recorded and what people said in the thread in, one document out.

The header names the alarm, where it is, when it started and was resolved, how long it took to
acknowledge and to resolve, and the resolution note; then every event in time order, each with
its time in the given zone: state changes and repeat notifications, acknowledgements and mutes
with who, playbook runs with their key findings, the charts posted, and the people's messages
in the thread (the bot's own folded into one line per run of them), pinned ones marked.

Alarm names, reasons, findings, notes and messages came from outside: they go through
``bot.render.mrkdwn.markdown``. User ids are shown as ``@U…`` (the file is read outside Slack).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.alarms.model import Alarm
from bot.durations import format_duration
from bot.incidents.records import where_text
from bot.render.mrkdwn import markdown
from bot.store.base import Incident, RunRecord

ACKNOWLEDGED = "acknowledged"
MUTED = "muted"
STATE = "state"  # the alarm changed state while the incident was open
REPEATED = "repeated"  # the alarm notified its state again: a reply in the thread
CHART = "chart"  # the alarm's chart was posted in the thread
EVENT_KINDS = frozenset({ACKNOWLEDGED, MUTED, STATE, REPEATED, CHART})


@dataclass(frozen=True)
class Event:
    """Something that happened to the incident: a person acknowledged it or muted it
    (``until``); the alarm changed state or notified again (``detail``: the state); its chart
    was posted (``detail``: the file's name)."""

    at: datetime
    kind: str  # one of EVENT_KINDS
    who: str  # Slack user id; "" for the alarm or the bot
    until: datetime | None = None  # a mute's end
    detail: str = ""


@dataclass(frozen=True)
class RunFacts:
    """A playbook run in the incident's thread, and the first line of each step that found
    something."""

    run: RunRecord
    findings: Sequence[str] = ()


@dataclass(frozen=True)
class Message:
    """A message in the incident's thread, as ``conversations.replies`` gave it."""

    at: datetime
    user: str  # Slack user id; "" for a bot
    text: str
    bot: bool = False
    pinned: bool = False


@dataclass(frozen=True)
class Facts:
    """Everything the timeline is made of."""

    incident: Incident
    alarm: Alarm | None
    events: Sequence[Event] = ()
    runs: Sequence[RunFacts] = ()
    messages: Sequence[Message] = ()


def incident_id(incident: Incident) -> str:
    """``<key>@<opened at>``: how ``triagebot timeline`` names one incident of a key."""
    return f"{incident.key}@{incident.opened_at.astimezone(UTC).isoformat()}"


def who(user: str) -> str:
    return f"@{markdown(user)}" if user else "someone"


def timeline_markdown(facts: Facts, zone: ZoneInfo) -> str:
    """The whole document, ending with a newline."""
    lines = [f"# Timeline: {markdown(facts.incident.alarm_name)}", ""]
    lines.extend(_header(facts, zone))
    lines.extend(["", "## Events", ""])
    timed = sorted(_entries(facts, zone), key=lambda entry: entry[0])
    lines.extend(text for _, text in timed)
    return "\n".join(lines) + "\n"


def _at(when: datetime, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}"


def _header(facts: Facts, zone: ZoneInfo) -> list[str]:
    incident = facts.incident
    acked = next((e for e in facts.events if e.kind == ACKNOWLEDGED), None)
    lines = [
        f"- **Incident:** {markdown(incident_id(incident))}",
        f"- **Alarm:** {markdown(incident.alarm_name)}",
    ]
    if facts.alarm is not None:
        lines.append(f"- **Account / region:** {markdown(where_text(facts.alarm))}")
    lines.append(f"- **Started:** {_at(incident.opened_at, zone)}")
    if incident.resolved_at is None:
        lines.append(f"- **Resolved:** not yet (state {markdown(incident.state)})")
    else:
        lines.append(f"- **Resolved:** {_at(incident.resolved_at, zone)}")
    if acked is not None:
        took = _took(acked.at - incident.opened_at)
        lines.append(f"- **Time to acknowledge:** {took} (by {who(acked.who)})")
    elif incident.acknowledged_by:
        lines.append(
            f"- **Time to acknowledge:** not recorded (by {who(incident.acknowledged_by)})"
        )
    else:
        lines.append("- **Time to acknowledge:** not acknowledged")
    if incident.resolved_at is not None:
        lines.append(f"- **Time to resolve:** {_took(incident.resolved_at - incident.opened_at)}")
    if incident.note:
        by = f" (by {who(incident.note_by)})" if incident.note_by else ""
        lines.append(f"- **Resolution note:** {markdown(incident.note)}{by}")
    return lines


def _took(value: timedelta) -> str:
    return format_duration(max(value, timedelta(0)))


def _entries(facts: Facts, zone: ZoneInfo) -> list[tuple[datetime, str]]:
    incident, alarm = facts.incident, facts.alarm
    reason = f": {markdown(alarm.reason)}" if alarm is not None and alarm.reason else ""
    entries = [(incident.opened_at, f"- {_at(incident.opened_at, zone)} — 🔔 ALARM{reason}")]
    if incident.resolved_at is not None:
        entries.append((incident.resolved_at, f"- {_at(incident.resolved_at, zone)} — ✅ OK"))
    for event in facts.events:
        entries.append((event.at, f"- {_at(event.at, zone)} — {_event_text(event, zone)}"))
    for ran in facts.runs:
        entries.append((ran.run.started_at, _run_text(ran, zone)))
    entries.extend(_message_entries(facts.messages, zone))
    return entries


def _event_text(event: Event, zone: ZoneInfo) -> str:
    if event.kind == MUTED and event.until is not None:
        return f"🔕 muted by {who(event.who)} until {_at(event.until, zone)}"
    if event.kind == STATE:
        return f"🔀 state changed to {markdown(event.detail)}"
    if event.kind == REPEATED:
        return f"🔁 {markdown(event.detail)} notified again (a reply in the thread)"
    if event.kind == CHART:
        return f"📈 chart posted: {markdown(event.detail)}"
    return f"👀 acknowledged by {who(event.who)}"


def _run_text(ran: RunFacts, zone: ZoneInfo) -> str:
    run = ran.run
    by = "the alarm" if run.user == "alarm" else who(run.user)
    head = (
        f"- {_at(run.started_at, zone)} — ▶️ playbook {markdown(run.playbook)} run by {by}:"
        f" {markdown(run.outcome)}"
    )
    return "\n".join([head, *(f"    - {markdown(line)}" for line in ran.findings)])


def _message_entries(messages: Sequence[Message], zone: ZoneInfo) -> list[tuple[datetime, str]]:
    """Each person's message on its own line; each run of bot messages as one."""
    entries: list[tuple[datetime, str]] = []
    folded: list[Message] = []

    def fold() -> None:
        if folded:
            count = f"{len(folded)} bot messages" if len(folded) > 1 else "1 bot message"
            entries.append((folded[0].at, f"- {_at(folded[0].at, zone)} — 🤖 {count}"))
            folded.clear()

    for message in sorted(messages, key=lambda m: m.at):
        if message.bot:
            folded.append(message)
            continue
        fold()
        pin = " 📌 *pinned*" if message.pinned else ""
        text = f"- {_at(message.at, zone)} — 💬 {who(message.user)}: {markdown(message.text)}{pin}"
        entries.append((message.at, text))
    fold()
    return entries
