"""What an alarm incident looks like in Slack: the root message, its thread replies, the storm
message and plain notifications. Pure: an alarm and an incident in, text and Block Kit out.

Everything an alarm carries (name, description, state reason, dimensions, account and region,
a notification's subject and text) came from outside and is escaped on its way in
(``bot.render.mrkdwn``); the only markup here is the bot's own: the console link, mentions of
the people who pressed a button, bold and emoji. Link buttons (runbook, dashboard) are Block Kit
``url`` buttons (``bot.render.links``), never mrkdwn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from bot.alarms.model import Alarm, AlarmSource
from bot.durations import format_duration
from bot.incidents.records import StormEntry, where_text
from bot.render.blocks import likely_text
from bot.render.limits import (
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_MRKDWN,
    MAX_SECTION_TEXT,
    clip,
    context_block,
    fit_blocks,
    truncate,
)
from bot.render.links import LinkButton, link_elements
from bot.render.mrkdwn import escape, link, mention
from bot.store.base import Incident

ACK_ACTION = "incident_ack"
RERUN_ACTION = "incident_rerun"
MUTE_ACTION = "incident_mute"  # a select of MUTE_CHOICES (a button, on roots drawn before)
NOTE_ACTION = "incident_note"
MORE_ACTION = "incident_more"  # the overflow menu (⋯): fewer buttons, more choices
TIMELINE_CHOICE = "timeline"  # in it: upload the incident's timeline to the thread
MUTE_CHOICES = ("30m", "1h", "4h", "24h")
ACTION_PREFIX = "incident_"

MAX_FIELD_TEXT = 2000  # a section field's text
_REASON_IN_LIST = 120  # characters of a reason in the storm list
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")  # us-east-1, ap-southeast-3
CONSOLE_LABEL = "Open in the AWS console"
HEALTH_DASHBOARD = (
    "https://health.console.aws.amazon.com/health/home#/account/dashboard/open-issues"
)

# How each state reads: (emoji, words). Health events have their own words.
_ALARM_STATES = {
    "ALARM": ("🔴", "ALARM"),
    "OK": ("✅", "OK"),
    "INSUFFICIENT_DATA": ("⚪", "INSUFFICIENT_DATA"),
}
_HEALTH_STATES = {
    "open": ("🟠", "AWS Health event open"),
    "upcoming": ("🗓️", "AWS Health event upcoming"),
    "closed": ("✅", "AWS Health event closed"),
}


@dataclass(frozen=True)
class SlackText:
    """A message to post or edit: fallback text and blocks (none for a plain reply)."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def state_label(source: AlarmSource | str, state: str) -> tuple[str, str]:
    """The emoji and words for a state, as mrkdwn: ``("🔴", "ALARM")``."""
    if str(source) == AlarmSource.HEALTH:
        return _HEALTH_STATES.get(state.lower(), ("🟠", f"AWS Health event {escape(state)}"))
    return _ALARM_STATES.get(state.upper(), ("⚪", escape(state) or "unknown state"))


def console_url(alarm: Alarm) -> str:
    """Where a person looks at the alarm in the AWS console (the Health dashboard for a Health
    event, or when the alarm's region is no region name)."""
    if alarm.source is AlarmSource.HEALTH or not _REGION.match(alarm.region):
        return HEALTH_DASHBOARD
    region = alarm.region
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{quote(alarm.name, safe='')}"
    )


def when_text(when: datetime | None) -> str:
    if when is None:
        return "unknown"
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def resolved_words(alarm: Alarm, duration: timedelta) -> str:
    """``Resolved after 14m`` (a Health event that closed at its start says just ``Closed``)."""
    if alarm.source is AlarmSource.HEALTH and duration <= timedelta(0):
        return "Closed"
    return f"Resolved after {format_duration(max(duration, timedelta(0)))}"


def root_message(
    alarm: Alarm,
    incident: Incident,
    now: datetime,
    *,
    likely: str = "",
    links: Sequence[LinkButton] = (),
) -> SlackText:
    """The incident's root message: what fired, where, when, what its run points at (``likely``,
    the correlator's first line, once the run has finished), its status, and the buttons (the
    incident's own, then ``links``: the runbook and dashboard)."""
    emoji, words = state_label(alarm.source, alarm.state)
    name = escape(alarm.name)
    title = f"{emoji} *{words}* · *{name}*"
    fallback = f"{emoji} {words}: {name}"
    if incident.resolved_at is not None:
        done = resolved_words(alarm, incident.resolved_at - incident.opened_at)
        title = f"✅ *{done}* · *{name}* (was {words})"
        fallback = f"✅ {done}: {name}"
    status = _status_notes(incident, now)
    if status:
        fallback += " · " + " · ".join(status)
    blocks: list[dict[str, Any]] = [_section(title)]
    if alarm.reason or alarm.description:
        blocks.append(_section(escape(alarm.reason or alarm.description)))
    if incident.note:
        by = f" from {mention(incident.note_by)}" if incident.note_by else ""
        blocks.append(_section(f"📝 *Resolution note*{by}: {escape(incident.note)}"))
    if likely:  # escaped (it names AWS resources) and cut to fit by likely_text
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": likely_text([likely])}}
        )
    blocks.append({"type": "section", "fields": _facts(alarm)})
    blocks.append(context_block([link(console_url(alarm), CONSOLE_LABEL), *status]))
    blocks.append(_buttons(incident, links))
    return SlackText(text=clip(fallback, MAX_MRKDWN), blocks=fit_blocks(blocks))


def _status_notes(incident: Incident, now: datetime) -> list[str]:
    notes = []
    if incident.acknowledged_by:
        notes.append(f"Acknowledged by {mention(incident.acknowledged_by)}")
    if incident.is_open and incident.muted_until is not None and incident.muted_until > now:
        notes.append(f"🔕 Muted until {incident.muted_until.astimezone(UTC):%H:%M} UTC")
    return notes


def _facts(alarm: Alarm) -> list[dict[str, Any]]:
    facts = []
    if alarm.source is AlarmSource.HEALTH:
        facts.append(("Service", alarm.service or "unknown"))
    if alarm.metric_summary:
        facts.append(("Metric", alarm.metric_summary))
    if alarm.threshold is not None:
        facts.append(("Threshold", f"{alarm.threshold:g}"))
    facts.append(("Account / region", where_text(alarm)))
    facts.append(("State changed", when_text(alarm.changed_at)))
    return [
        {"type": "mrkdwn", "text": truncate(f"*{label}*\n{escape(value)}", MAX_FIELD_TEXT)}
        for label, value in facts
    ]


def _buttons(incident: Incident, links: Sequence[LinkButton]) -> dict[str, Any]:
    """Open: Acknowledge, Re-run, Mute (a choice of durations); resolved: Re-run and Add note
    (Edit note once there is one); then the link buttons, and the overflow menu (Timeline)."""
    value = incident.key[:MAX_BUTTON_VALUE]
    wanted: list[tuple[str, str, str | None]] = [("Re-run", RERUN_ACTION, None)]
    if incident.is_open:
        wanted = [("Acknowledge", ACK_ACTION, "primary"), *wanted]
    else:
        wanted.append(("Edit note" if incident.note else "Add note", NOTE_ACTION, None))
    elements: list[dict[str, Any]] = []
    for label, action_id, style in wanted:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": clip(label, MAX_BUTTON_TEXT)},
            "value": value,
        }
        if style:
            button["style"] = style
        elements.append(button)
    if incident.is_open:
        elements.append(_mute_choice())
    elements += link_elements(links)
    more = [{"text": {"type": "plain_text", "text": "Timeline"}, "value": TIMELINE_CHOICE}]
    elements.append({"type": "overflow", "action_id": MORE_ACTION, "options": more})
    return {"type": "actions", "block_id": "incident", "elements": elements}


def _mute_choice() -> dict[str, Any]:
    options = [
        {"text": {"type": "plain_text", "text": f"Mute {choice}"}, "value": choice}
        for choice in MUTE_CHOICES
    ]
    return {
        "type": "static_select",
        "action_id": MUTE_ACTION,
        "placeholder": {"type": "plain_text", "text": "Mute"},
        "options": options,
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}


# thread replies


def still_firing(alarm: Alarm) -> SlackText:
    about = escape(alarm.reason or alarm.name)
    if alarm.source is AlarmSource.HEALTH:
        return _reply(f"🟠 Still {escape(alarm.state or 'open')}: {about}")
    return _reply(f"🔴 Still in ALARM: {about}")


def firing_again(alarm: Alarm, muted_until: datetime) -> SlackText:
    emoji, words = state_label(alarm.source, alarm.state)
    until = f"{muted_until.astimezone(UTC):%H:%M} UTC"
    about = escape(alarm.reason or alarm.name)
    return _reply(f"{emoji} {words} again (muted until {until}): {about}")


def resolved_reply(alarm: Alarm, duration: timedelta) -> SlackText:
    emoji, words = state_label(alarm.source, alarm.state)
    done = resolved_words(alarm, duration)
    return _reply(f"{emoji} {words} — {done}. {escape(alarm.reason)}".rstrip(" ."))


def note_reply(alarm: Alarm) -> SlackText:
    emoji, words = state_label(alarm.source, alarm.state)
    detail = f": {escape(alarm.reason)}" if alarm.reason else ""
    return _reply(f"{emoji} {words}{detail} (the incident stays open)")


def muted_reply(user: str, until: datetime) -> SlackText:
    return _reply(
        f"🔕 {mention(user)} muted this incident until {until.astimezone(UTC):%H:%M} UTC: "
        "later alarms only reply here, without running the playbook."
    )


def playbook_failed(reason: str) -> SlackText:
    """``reason`` is an error's plain ``user_message``."""
    return _reply(f"⚠️ The playbook for this alarm could not run: {escape(reason)}")


def _reply(text: str) -> SlackText:
    return SlackText(text=truncate(text, MAX_MRKDWN))


# alarm storms


def storm_reply(alarm: Alarm) -> SlackText:
    """The coalesced alarm's first line, in the storm thread."""
    emoji, words = state_label(alarm.source, alarm.state)
    reason = escape(alarm.reason) or "no reason given"
    name, where = escape(alarm.name), escape(where_text(alarm))
    return _reply(f"{emoji} {words}: *{name}* ({where}) — {reason}")


def storm_message(
    entries: Sequence[StormEntry],
    *,
    playbook: str,
    threshold: int,
    window: timedelta,
    earlier: int = 0,
) -> SlackText:
    """The one root message of an alarm storm, listing the alarms coalesced into it (``earlier``
    more, older ones, are only counted: the store keeps the newest)."""
    count = len(entries) + earlier
    noun = "alarm" if count == 1 else "alarms"
    head = f"🌩️ *Alarm storm*: {count} more {noun} (over {threshold} in {format_duration(window)})"
    note = (
        f"To keep the channel readable these alarms share this thread, and their playbook "
        f"(`{escape(playbook)}`) is *not* run one by one. Run it for one of them with "
        "`/triage alarm &lt;alarm-name&gt;`."
    )
    lines = []
    for entry in entries:
        emoji, words = state_label(entry.source, entry.state)
        reason = escape(clip(entry.reason, _REASON_IN_LIST)) if entry.reason else words
        lines.append(f"{emoji} *{escape(entry.name)}* ({escape(entry.where)}) — {reason}")
    if earlier:
        noun = "alarm" if earlier == 1 else "alarms"
        lines.insert(0, f"… {earlier} earlier {noun}, in the thread")
    blocks = [
        _section(head),
        _section(truncate("\n".join(lines), MAX_SECTION_TEXT, "(all of them are in the thread)")),
        context_block([note]),
    ]
    fallback = f"🌩️ Alarm storm: {count} {noun}: " + ", ".join(escape(e.name) for e in entries)
    return SlackText(text=clip(fallback, MAX_MRKDWN), blocks=blocks)


# notifications


def notification_message(alarm: Alarm) -> SlackText:
    """Anything that is not an alarm or Health event: its subject and text, as they came."""
    subject = escape(alarm.name) or "Notification"
    body = escape(alarm.text or alarm.reason)
    text = f"*{subject}*\n{body}" if body else f"*{subject}*"
    return SlackText(text=truncate(text, MAX_MRKDWN, "(cut to fit Slack)"))
