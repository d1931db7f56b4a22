"""What the incident lifecycle keeps in the store besides incident rows: a route's storm
message (``StormRecord`` and its ``StormEntry`` list), the alarm that opened an incident
(so buttons can redraw and re-run it), and the first line of what its run points at
(``LikelyRecord``, so every redraw of the root keeps it). Plain data and its JSON; no
rendering."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from bot.alarms.model import Alarm, AlarmSource


def where_text(alarm: Alarm) -> str:
    """``123456789012 / us-east-1``: the account and region an alarm is in."""
    return f"{alarm.account or 'unknown account'} / {alarm.region or 'unknown region'}"


# A storm record lists its newest alarms only, each with its name and the start of its reason:
# a store item has a size limit (DynamoDB: 400 KB; an entry of long non-ASCII text is up to
# 3 KB in UTF-8) and the message shows a few dozen lines anyway. Older alarms are counted
# (``StormRecord.earlier``).
STORM_LISTED = 60
_NAME_KEPT = 255  # CloudWatch's own limit for an alarm name
_REASON_KEPT = 200  # more than the list shows of it


@dataclasses.dataclass(frozen=True)
class StormEntry:
    """One alarm coalesced into a storm message."""

    key: str
    name: str
    state: str
    source: str
    where: str  # "123456789012 / us-east-1"
    reason: str

    @classmethod
    def of(cls, alarm: Alarm) -> StormEntry:
        return cls(
            key=alarm.incident_key,
            name=alarm.name[:_NAME_KEPT],
            state=alarm.state,
            source=str(alarm.source),
            where=where_text(alarm),
            reason=alarm.reason[:_REASON_KEPT],
        )


@dataclasses.dataclass(frozen=True)
class StormRecord:
    """A route's storm message: where it is, the newest alarm in it, what it lists (the newest
    ``STORM_LISTED``) and how many earlier ones it no longer lists; while a new one is being
    posted, the delivery id it is posted under (``starting``) and the time of the alarm that
    started it (``starting_at``)."""

    channel: str
    ts: str
    last: datetime
    entries: list[StormEntry]
    starting: str = ""
    starting_at: datetime | None = None
    earlier: int = 0

    @property
    def count(self) -> int:
        """Every alarm coalesced into the message, listed or not."""
        return len(self.entries) + self.earlier

    def joined(self, entry: StormEntry, last: datetime, listed: int = STORM_LISTED) -> StormRecord:
        """The record with ``entry`` listed last (once), keeping the newest ``listed``."""
        entries = [e for e in self.entries if e.key != entry.key] + [entry]
        dropped = max(0, len(entries) - listed)
        return StormRecord(
            self.channel, self.ts, last, entries[dropped:], earlier=self.earlier + dropped
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "channel": self.channel,
                "ts": self.ts,
                "last": self.last.isoformat(),
                "entries": [dataclasses.asdict(e) for e in self.entries],
                "starting": self.starting,
                "starting_at": self.starting_at.isoformat() if self.starting_at else None,
                "earlier": self.earlier,
            },
            ensure_ascii=False,  # an item's size is its UTF-8: escapes would triple it
        )

    @classmethod
    def from_json(cls, raw: str) -> StormRecord:
        data = json.loads(raw)
        return cls(
            channel=str(data["channel"]),
            ts=str(data["ts"]),
            last=datetime.fromisoformat(data["last"]),
            entries=[StormEntry(**e) for e in data["entries"]],
            starting=str(data.get("starting") or ""),
            starting_at=datetime.fromisoformat(data["starting_at"])
            if data.get("starting_at")
            else None,
            earlier=int(data.get("earlier") or 0),
        )


@dataclasses.dataclass(frozen=True)
class LikelyRecord:
    """The first of the correlator's lines for an incident's run (``Likely: …``), and which
    incident of the key it was found for (a later incident of the key does not show it)."""

    opened_at: datetime
    line: str

    def to_json(self) -> str:
        return json.dumps({"opened_at": self.opened_at.isoformat(), "line": self.line})

    @classmethod
    def from_json(cls, raw: str) -> LikelyRecord:
        data = json.loads(raw)
        return cls(opened_at=datetime.fromisoformat(data["opened_at"]), line=str(data["line"]))


def alarm_to_json(alarm: Alarm) -> str:
    data = {f.name: getattr(alarm, f.name) for f in dataclasses.fields(alarm)}
    data["source"] = str(alarm.source)
    data["changed_at"] = alarm.changed_at.isoformat() if alarm.changed_at else None
    data["dimensions"] = dict(alarm.dimensions)
    return json.dumps(data)


def alarm_from_json(raw: str) -> Alarm:
    data = json.loads(raw)
    data["source"] = AlarmSource(data["source"])
    if data.get("changed_at"):
        data["changed_at"] = datetime.fromisoformat(data["changed_at"])
    known = {f.name for f in dataclasses.fields(Alarm)}
    return Alarm(**{k: v for k, v in data.items() if k in known})
