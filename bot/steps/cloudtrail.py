"""CloudTrail: what changed recently, and who changed it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from bot import results
from bot.alarms.model import Alarm
from bot.durations import Duration, format_duration
from bot.results import EvidenceKind, Finding, Searched, Severity, Status, StepOutput, Table
from bot.steps.base import StepContext, StepParams, step

MAX_PAGES = 5
PAGE_SIZE = 50
_ELB_KINDS = frozenset({"app", "net", "gwy", "targetgroup"})
_MIN_TERM = 4  # shorter alarm dimension values ("1", "api") would match nearly everything
_SHOWN_IN_SUMMARY = 3


class RecentChangesParams(StepParams):
    """How far back to look and what to keep."""

    lookback: Duration = Field(
        default=timedelta(hours=1), description="How far back to look (CloudTrail keeps 90 days)."
    )
    resource: str | None = Field(
        default=None,
        description="Only changes whose resources or request mention this text "
        "(a name, an ID or an ARN).",
    )
    max_events: int = Field(
        default=50, ge=1, le=250, description="How many changes to list at most."
    )


@dataclass(frozen=True)
class Change:
    """One write API call, as CloudTrail recorded it."""

    time: datetime
    who: str
    event: str
    source: str
    resources: tuple[str, ...]
    error: str
    related: bool  # touches a resource named in the alarm
    mentioned: tuple[str, ...] = ()  # the alarm's names it mentions

    def evidence(self) -> results.Change:
        """The change as the correlator reads it: the alarm's names it mentions count as
        resources it touches (a call may name them only in its request)."""
        extra = tuple(m for m in self.mentioned if m not in self.resources)
        return results.Change(
            at=self.time,
            action=self.event,
            resources=self.resources + extra,
            who=self.who,
            failed=bool(self.error),
        )

    def as_data(self) -> dict[str, Any]:
        return {
            "time": f"{self.time:%Y-%m-%d %H:%M:%S} UTC",
            "who": self.who,
            "event": self.event,
            "source": self.source,
            "resources": ", ".join(self.resources),
            "error": self.error,
            "related": self.related,
        }


@step(
    "cloudtrail.recent_changes",
    params=RecentChangesParams,
    permissions=("cloudtrail:LookupEvents",),
)
async def recent_changes(ctx: StepContext, params: RecentChangesParams) -> StepOutput:
    """Write API calls (deploys, config edits, scaling) in the lookback, newest first.

    Answers "did someone change something?". Changes that touch a resource named in the
    alarm (its dimension values, or the alarm itself) are flagged and listed first; failed
    calls (an ``errorCode`` in the record) are marked as such. CloudTrail delivers events
    a few minutes late, so the very latest changes may be missing.

    Example:
        - id: changes
          uses: cloudtrail.recent_changes
          with:
            lookback: 2h
    """
    start = ctx.now - params.lookback
    pages = await ctx.paginate(
        "cloudtrail",
        "lookup_events",
        max_pages=MAX_PAGES,
        LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
        StartTime=start,
        EndTime=ctx.now,
        MaxResults=PAGE_SIZE,
    )
    terms = _alarm_terms(ctx.alarm)
    changes = [
        _change(raw, terms)
        for page in pages
        for raw in page.get("Events", [])
        if params.resource is None or _mentions(raw, params.resource)
    ]
    changes.sort(key=lambda c: c.time, reverse=True)
    changes.sort(key=lambda c: not c.related)  # stable: related first, each part newest first
    window = f"the last {format_duration(params.lookback)}"
    if params.resource:
        window += f" mentioning `{params.resource}`"
    truncated = len(pages) == MAX_PAGES and bool(pages[-1].get("NextToken"))
    searched = Searched(EvidenceKind.CHANGES, since=start, complete=not truncated)
    if not changes:
        return StepOutput(
            summary=f"No write API calls recorded by CloudTrail in {window}.",
            data={"count": 0, "related": 0, "failed": 0, "principals": 0, "events": []},
            evidence=(searched,),
        )
    shown = changes[: params.max_events]
    related = [c for c in changes if c.related]
    failed = [c for c in changes if c.error]
    return StepOutput(
        summary=_summary(changes, related, window, truncated),
        status=Status.WARN if any(not c.error for c in related) else Status.OK,
        findings=tuple(_finding(c) for c in related[: params.max_events]),
        tables=(_grouped(shown),),
        data={
            "count": len(changes),
            "related": len(related),
            "failed": len(failed),
            "principals": len({c.who for c in changes}),
            "events": [c.as_data() for c in shown],
        },
        evidence=(searched, *(c.evidence() for c in shown)),
    )


def _alarm_terms(alarm: Alarm | None) -> tuple[str, ...]:
    """Names from the alarm that a change to its resources would mention."""
    if alarm is None:
        return ()
    terms = {v for v in alarm.dimensions.values() if len(v) >= _MIN_TERM}
    for value in alarm.dimensions.values():
        # ELB dimensions are app/NAME/ID or targetgroup/NAME/ID; changes name the resource by NAME
        # (its target groups are usually called NAME-something).
        parts = value.split("/")
        if len(parts) == 3 and parts[0] in _ELB_KINDS and len(parts[1]) >= _MIN_TERM:
            terms.add(parts[1])
    if alarm.name and alarm.source == "alarm":
        terms.add(alarm.name)
    return tuple(sorted(terms))


def _record(raw: dict[str, Any]) -> dict[str, Any]:
    """The CloudTrailEvent field: a JSON string inside the JSON answer."""
    try:
        decoded = json.loads(raw.get("CloudTrailEvent") or "{}")
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _haystack(raw: dict[str, Any], record: dict[str, Any]) -> str:
    names = " ".join(r.get("ResourceName", "") for r in raw.get("Resources", []))
    request = json.dumps(record.get("requestParameters") or {})
    return f"{names} {request}"


def _mentions(raw: dict[str, Any], text: str) -> bool:
    return text in _haystack(raw, _record(raw))


def _who(raw: dict[str, Any], record: dict[str, Any]) -> str:
    identity = record.get("userIdentity") or {}
    arn = str(identity.get("arn", ""))
    if ":assumed-role/" in arn:
        return arn.split(":assumed-role/", 1)[1]  # role/session
    if ":user/" in arn:
        return arn.split(":user/", 1)[1]
    return str(raw.get("Username") or identity.get("invokedBy") or arn or "unknown")


def _change(raw: dict[str, Any], terms: Iterable[str]) -> Change:
    record = _record(raw)
    haystack = _haystack(raw, record)
    error = str(record.get("errorCode") or "")
    return Change(
        time=raw["EventTime"],
        who=_who(raw, record),
        event=str(raw.get("EventName", "")),
        source=str(raw.get("EventSource") or record.get("eventSource") or "").removesuffix(
            ".amazonaws.com"
        ),
        resources=tuple(
            dict.fromkeys(str(r.get("ResourceName", "")) for r in raw.get("Resources", []))
        ),
        error=error,
        related=any(term in haystack for term in terms),
        mentioned=tuple(term for term in terms if term in haystack),
    )


def _finding(change: Change) -> Finding:
    what = f" on {', '.join(change.resources)}" if change.resources else ""
    failed = f" (failed: {change.error})" if change.error else ""
    return Finding(
        f"{change.who} called {change.event}{what} at {change.time:%H:%M:%S} UTC{failed} "
        "— touches the alarm's resources.",
        Severity.INFO if change.error else Severity.WARNING,
    )


def _grouped(changes: list[Change]) -> Table:
    """One row per (who, what, resources), in the order of each group's first change."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[Change]] = {}
    for change in changes:
        groups.setdefault((change.who, change.event, change.resources), []).append(change)
    rows = []
    for (who, event, resources), members in groups.items():
        failed = sum(1 for c in members if c.error)
        result = "ok" if not failed else f"{failed} failed ({members[0].error or 'error'})"
        rows.append(
            (
                f"{members[0].time:%H:%M:%S}",
                who,
                event,
                ", ".join(resources),
                str(len(members)),
                result,
                "yes" if members[0].related else "",
            )
        )
    return Table(
        columns=("Latest (UTC)", "Who", "What", "Resources", "Calls", "Result", "Alarm's"),
        rows=tuple(rows),
        title="Recent changes",
    )


def _summary(changes: list[Change], related: list[Change], window: str, truncated: bool) -> str:
    count = f"at least {len(changes)}" if truncated else str(len(changes))
    noun = "call" if len(changes) == 1 else "calls"
    people = len({c.who for c in changes})
    text = f"{count} write API {noun} in {window} by {people} principal(s)"
    if not related:
        return f"{text}; none touch the alarm's resources."
    listed = "; ".join(
        f"{c.who} {c.event}{' (failed)' if c.error else ''}" for c in related[:_SHOWN_IN_SUMMARY]
    )
    more = (
        f" and {len(related) - _SHOWN_IN_SUMMARY} more" if len(related) > _SHOWN_IN_SUMMARY else ""
    )
    return f"{text}; {len(related)} touch the alarm's resources: {listed}{more}."


STEPS = (recent_changes,)
