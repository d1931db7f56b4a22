"""How "has this happened before?" reads in a new incident's thread. Pure: what the store and
Slack said about earlier incidents in, one reply out. Each earlier incident listed carries its
resolution note, when someone left one (``bot/incidents/notes.py``).

Alarm names, resource ids and notes came from outside and are escaped; the only markup is the
bot's own: links to the earlier threads (permalinks Slack gave), mentions of who acknowledged,
bold and emoji.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.durations import format_duration
from bot.incidents.messages import SlackText, when_text
from bot.render.limits import MAX_MRKDWN, clip, truncate
from bot.render.mrkdwn import escape, link, mention
from bot.store.base import Incident

LISTED = 5  # earlier incidents listed one by one, at most
OTHER_ALARMS = 5  # other alarms on the resource named, at most
SUMMED = 7  # how many of the latest a frequent alarm's one line sums up
NOTE_CHARS = 300  # of an earlier incident's resolution note, on one line
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Past:
    """An earlier incident, and the link to its thread ("" when Slack gave none)."""

    incident: Incident
    link: str = ""


@dataclass(frozen=True)
class OtherAlarm:
    """Another alarm on the same resource, and its incidents in the window (newest first)."""

    name: str
    incidents: Sequence[Past]


@dataclass(frozen=True)
class Recall:
    """What the window holds for a new incident: its alarm's earlier incidents (newest first)
    and the other alarms on its resource (``resource``: ``load balancer `app/prod/1```)."""

    name: str
    opened_at: datetime
    window: timedelta
    same: Sequence[Past]
    resource: str = ""
    others: Sequence[OtherAlarm] = ()


def cadence(opened: Sequence[datetime]) -> str:
    """``fires about daily`` / ``fires about 6 times a day`` when an alarm fires so often that a
    list would be noise (more than ``LISTED`` openings, a median gap of 36 hours or less); ""
    otherwise. ``opened`` is newest first, the new incident included."""
    if len(opened) <= LISTED + 1:
        return ""
    gap = _median([a - b for a, b in itertools.pairwise(opened)])
    if gap > 1.5 * _DAY:
        return ""
    if gap >= _DAY / 2:
        return "fires about daily"
    return f"fires about {round(_DAY / max(gap, timedelta(minutes=1)))} times a day"


def history_reply(recall: Recall) -> SlackText:
    """The thread's first reply: counts, times to resolve, the last time with its link, who
    acknowledged it and its note; up to five earlier incidents, or one line for an alarm that
    fires about daily; then the other alarms on the same resource."""
    lines = [_own_head(recall)] if recall.same else []
    often = cadence([recall.opened_at, *(p.incident.opened_at for p in recall.same)])
    if recall.same and often:
        lines.append(f"It {often}; {_latest_summary(recall.same)}.")
        lines.append(f"Last: {_item(recall.same[0], recall.opened_at)}")
    else:
        lines += [f"• {_item(past, recall.opened_at)}" for past in recall.same[:LISTED]]
        if len(recall.same) > LISTED:
            lines.append(f"… and {len(recall.same) - LISTED} earlier")
    if recall.others:
        lines.append(_others_head(recall))
        lines += [f"• {_other(other, recall.opened_at)}" for other in recall.others[:OTHER_ALARMS]]
        if len(recall.others) > OTHER_ALARMS:
            lines.append(f"… and {len(recall.others) - OTHER_ALARMS} more alarms")
    return SlackText(text=truncate("\n".join(lines), MAX_MRKDWN))


def _own_head(recall: Recall) -> str:
    count = len(recall.same)
    times = "once" if count == 1 else f"{count} times"
    head = (
        f"🕘 *Seen before*: *{escape(recall.name)}* fired {times} in the last "
        f"{format_duration(recall.window)}"
    )
    took = [_took(p.incident) for p in recall.same if p.incident.resolved_at is not None]
    if not took:
        return head + " (none of them resolved yet)."
    if len(took) == 1:
        return head + f"; resolved after {format_duration(took[0])}."
    median, longest = _median(took), max(took)
    return head + (
        f"; median {format_duration(median)} to resolve, longest {format_duration(longest)}."
    )


def _latest_summary(same: Sequence[Past]) -> str:
    """``last 7 resolved by themselves within 10m`` (or how many of them someone acked)."""
    latest = [p.incident for p in same[:SUMMED] if p.incident.resolved_at is not None]
    if not latest:
        return "none of the latest resolved yet"
    within = format_duration(max(_took(i) for i in latest))
    acked = sum(1 for i in latest if i.acknowledged_by)
    if not acked:
        return f"last {len(latest)} resolved by themselves within {within}"
    return f"last {len(latest)} resolved within {within}, {acked} of them acknowledged"


def _item(past: Past, now: datetime) -> str:
    """``2026-11-28 14:02:00 UTC (3d ago) · resolved after 12m · acknowledged by @x · thread``"""
    incident = past.incident
    parts = [f"{when_text(incident.opened_at)} ({format_duration(now - incident.opened_at)} ago)"]
    if incident.resolved_at is None:
        parts.append("still open")
    else:
        parts.append(f"resolved after {format_duration(_took(incident))}")
    if incident.acknowledged_by:
        parts.append(f"acknowledged by {mention(incident.acknowledged_by)}")
    if past.link:
        parts.append(link(past.link, "thread"))
    if incident.note:
        parts.append(f"📝 {escape(clip(incident.note, NOTE_CHARS))}")
    return " · ".join(parts)


def _others_head(recall: Recall) -> str:
    where = f"on {recall.resource}" if recall.resource else "on the same resource"
    count = sum(len(o.incidents) for o in recall.others)
    times = "once" if count == 1 else f"{count} times"
    return f"🔗 Other alarms {where} fired {times} in the last {format_duration(recall.window)}:"


def _other(other: OtherAlarm, now: datetime) -> str:
    count = len(other.incidents)
    times = "once" if count == 1 else f"{count} times"
    return f"*{escape(clip(other.name, 200))}* {times}; last {_item(other.incidents[0], now)}"


def _median(values: Sequence[timedelta]) -> timedelta:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _took(incident: Incident) -> timedelta:
    resolved = incident.resolved_at or incident.opened_at
    return max(resolved - incident.opened_at, timedelta(0))
