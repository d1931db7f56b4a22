"""The shift hand-over as a Slack message (``bot.incidents.handover`` gathers it)."""

from __future__ import annotations

from typing import Any

from bot.durations import format_duration
from bot.incidents.handover import Handover, OpenIncident
from bot.render.mrkdwn import date_token, escape, link, mention

LISTED = 15  # open incidents and runs listed, each; the rest are counted


def handover_fallback_text(handover: Handover) -> str:
    return (
        f"Shift hand-over: {len(handover.still_open)} open, {handover.opened} opened, "
        f"{handover.resolved} resolved"
    )


def handover_blocks(handover: Handover) -> list[dict[str, Any]]:
    sections = [_title(handover), _open(handover), _activity(handover), _runs(handover)]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in sections]


def _title(handover: Handover) -> str:
    start, end = handover.start, handover.end
    since = date_token(int(start.timestamp()), f"{start:%Y-%m-%d %H:%M} UTC")
    until = date_token(int(end.timestamp()), f"{end:%Y-%m-%d %H:%M} UTC")
    return f"*Shift hand-over* — {since} to {until}"


def _open(handover: Handover) -> str:
    if not handover.still_open:
        return "*Still open:* nothing"
    lines = [f"*Still open ({len(handover.still_open)}):*"]
    lines += [_open_line(item, handover) for item in handover.still_open[:LISTED]]
    if len(handover.still_open) > LISTED:
        lines.append(f"… and {len(handover.still_open) - LISTED} more")
    return "\n".join(lines)


def _open_line(item: OpenIncident, handover: Handover) -> str:
    incident = item.incident
    name = link(item.link, incident.alarm_name) if item.link else escape(incident.alarm_name)
    age = format_duration(handover.end - incident.opened_at)
    acked = (
        f"acked by {mention(incident.acknowledged_by)}"
        if incident.acknowledged_by
        else "not acknowledged"
    )
    return f"• {name} — {escape(incident.state)}, open {age}, {acked}"


def _activity(handover: Handover) -> str:
    text = (
        f"*During the shift:* {handover.opened} opened, {handover.resolved} resolved, "
        f"{format_duration(handover.firing)} firing in all"
    )
    if handover.noisiest:
        noisy = ", ".join(f"`{escape(name)}` ({count})" for name, count in handover.noisiest)
        text += f"\nNoisiest: {noisy}"
    return text


def _runs(handover: Handover) -> str:
    if not handover.runs:
        return "*Runs:* none"
    lines = [f"*Runs ({len(handover.runs)}):*"]
    for run in handover.runs[:LISTED]:
        when = date_token(int(run.started_at.timestamp()), f"{run.started_at:%H:%M} UTC")
        lines.append(
            f"• `{escape(run.playbook)}` by {mention(run.user)} at {when} — {escape(run.outcome)}"
        )
    if len(handover.runs) > LISTED:
        lines.append(f"… and {len(handover.runs) - LISTED} more")
    return "\n".join(lines)
