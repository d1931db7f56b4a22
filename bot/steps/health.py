"""AWS Health: is AWS itself having a problem where we run?"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from bot.aws import Target
from bot.errors import StepError
from bot.results import (
    AwsIssue,
    EvidenceKind,
    Finding,
    Searched,
    Severity,
    Status,
    StepOutput,
    Table,
)
from bot.steps.base import StepContext, StepParams, step

# The Health API has one endpoint, in us-east-1, whatever region the events are about.
HEALTH_REGION = "us-east-1"
LIVE_STATUSES = ("open", "upcoming")
# Most relevant first when choosing which events get their description fetched.
_CATEGORY_RANK = {"issue": 0, "scheduledChange": 1, "investigation": 2, "accountNotification": 3}
_DESCRIPTION_CHARS = 400
NO_SUBSCRIPTION = (
    "AWS Health API needs a Business, Enterprise On-Ramp or Enterprise support plan; "
    "check the Personal Health Dashboard (https://health.aws.amazon.com/health/home) "
    "for open events instead."
)


class HealthEventsParams(StepParams):
    """Which Health events to list."""

    region: str | None = Field(
        default=None,
        description="Region the events are about (default: the step's region). "
        "Global events are always included.",
    )
    services: tuple[str, ...] = Field(
        default=(),
        description="Only these services, as Health names them (EC2, ELASTICLOADBALANCING, ...). "
        "Empty = all services.",
    )
    max_details: int = Field(
        default=3,
        ge=0,
        le=10,
        description="How many of the most relevant events get their latest description.",
    )


@step(
    "health.events",
    params=HealthEventsParams,
    permissions=("health:DescribeEvents", "health:DescribeEventDetails"),
)
async def health_events(ctx: StepContext, params: HealthEventsParams) -> StepOutput:
    """Open and upcoming AWS Health events for the region (and global ones), newest first.

    Answers "is it us or AWS?": an open operational issue for a service we use in this region
    is the first thing to rule out. The latest update text is fetched for the most relevant
    few events (issues in the region first). Needs a Business, Enterprise On-Ramp or
    Enterprise support plan; without one the step says so instead of failing.

    Example:
        - id: health
          uses: health.events
          with:
            services: [EC2, ELASTICLOADBALANCING]
    """
    region = params.region or ctx.target.region
    wanted_regions = {region, "global"}
    services = tuple(s.upper() for s in params.services)
    target = Target(region=HEALTH_REGION, account=ctx.target.account)
    event_filter: dict[str, Any] = {"eventStatusCodes": list(LIVE_STATUSES)}
    if services:
        event_filter["services"] = list(services)
    try:
        pages = await ctx.aws.paginate(
            "health",
            "describe_events",
            target,
            ctx.stats,
            max_pages=5,
            filter=event_filter,
            maxResults=100,
        )
    except StepError as exc:
        if exc.aws_code == "SubscriptionRequiredException":
            return StepOutput(
                summary="Could not check AWS Health: the account has no Business or Enterprise "
                "support plan.",
                findings=(Finding(NO_SUBSCRIPTION, Severity.WARNING),),
                data={"available": False, "count": 0, "open": 0, "upcoming": 0, "events": []},
                evidence=(Searched(EvidenceKind.HEALTH, complete=False),),
            )
        raise

    events = [
        event
        for page in pages
        for event in page.get("events", [])
        if event.get("region", "global") in wanted_regions
        and event.get("statusCode") in LIVE_STATUSES
        and (not services or event.get("service") in services)
    ]
    events.sort(key=_start, reverse=True)
    where = "global" if region == "global" else f"{region} (or global)"
    if not events:
        return StepOutput(
            summary=f"No open or upcoming AWS Health events for {where}.",
            data={"available": True, "count": 0, "open": 0, "upcoming": 0, "events": []},
            evidence=(Searched(EvidenceKind.HEALTH),),
        )

    relevant = sorted(events, key=lambda e: _relevance(e, region))[: params.max_details]
    missing: tuple[Finding, ...] = ()
    try:
        descriptions = await _descriptions(ctx, target, [e["arn"] for e in relevant])
    except StepError as exc:  # the events alone still answer the question
        descriptions, missing = {}, (Finding(f"No event descriptions: {exc.user_message}"),)
    rows = [_row(e, descriptions.get(e["arn"], "")) for e in events]
    open_issues = [e for e in events if _is_open_issue(e)]
    upcoming = sum(1 for e in events if e.get("statusCode") == "upcoming")
    findings = (
        tuple(
            Finding(
                _sentence(e, descriptions.get(e["arn"], "")),
                Severity.WARNING if _is_open_issue(e) else Severity.INFO,
            )
            for e in relevant
        )
        + missing
    )
    return StepOutput(
        summary=_summary(events, open_issues, upcoming, where),
        status=Status.WARN if open_issues else Status.OK,
        findings=findings,
        tables=(
            Table(
                columns=("Start", "Service", "Event", "Region", "Status"),
                rows=tuple(
                    (r["start"], r["service"], r["event_type"], r["region"], r["status"])
                    for r in rows
                ),
                title="AWS Health events",
            ),
        ),
        data={
            "available": True,
            "count": len(events),
            "open": len(events) - upcoming,
            "upcoming": upcoming,
            "events": rows,
        },
        evidence=(Searched(EvidenceKind.HEALTH), *(_issue(e) for e in events)),
    )


def _issue(event: dict[str, Any]) -> AwsIssue:
    start = event.get("startTime")
    return AwsIssue(
        service=str(event.get("service", "")),
        region=str(event.get("region", "global")),
        event=str(event.get("eventTypeCode", "")),
        since=start if isinstance(start, datetime) else None,
        status=str(event.get("statusCode", "")),
        category=str(event.get("eventTypeCategory", "")),
    )


async def _descriptions(ctx: StepContext, target: Target, arns: list[str]) -> dict[str, str]:
    """Latest description per event ARN (DescribeEventDetails takes up to 10 ARNs)."""
    if not arns:
        return {}
    answer = await ctx.aws.call(
        "health", "describe_event_details", target, ctx.stats, eventArns=arns[:10]
    )
    return {
        item["event"]["arn"]: item.get("eventDescription", {}).get("latestDescription", "")
        for item in answer.get("successfulSet", [])
    }


def _start(event: dict[str, Any]) -> datetime:
    start = event.get("startTime") or event.get("lastUpdatedTime")
    return start if isinstance(start, datetime) else datetime.min.replace(tzinfo=UTC)


def _relevance(event: dict[str, Any], region: str) -> tuple[int, int, int, float]:
    start = event.get("startTime")
    return (
        0 if event.get("statusCode") == "open" else 1,
        _CATEGORY_RANK.get(str(event.get("eventTypeCategory")), 4),
        0 if event.get("region") == region else 1,
        -start.timestamp() if isinstance(start, datetime) else 0.0,
    )


def _is_open_issue(event: dict[str, Any]) -> bool:
    return event.get("statusCode") == "open" and event.get("eventTypeCategory") == "issue"


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if isinstance(value, datetime) else ""


def _row(event: dict[str, Any], description: str) -> dict[str, str]:
    return {
        "arn": event["arn"],
        "service": str(event.get("service", "")),
        "event_type": str(event.get("eventTypeCode", "")),
        "category": str(event.get("eventTypeCategory", "")),
        "region": str(event.get("region", "")),
        "status": str(event.get("statusCode", "")),
        "start": _when(event.get("startTime")),
        "last_updated": _when(event.get("lastUpdatedTime")),
        "description": _shorten(description),
    }


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _DESCRIPTION_CHARS:
        return text
    return text[: _DESCRIPTION_CHARS - 1].rstrip() + "…"


def _sentence(event: dict[str, Any], description: str) -> str:
    since = "since" if event.get("statusCode") == "open" else "starting"
    head = (
        f"{event.get('service', '?')} {event.get('eventTypeCode', '?')} "
        f"({event.get('statusCode')} {since} {_when(event.get('startTime'))}, "
        f"{event.get('region', '?')})"
    )
    text = _shorten(description)
    return f"{head}: {text}" if text else head


def _summary(
    events: list[dict[str, Any]], open_issues: list[dict[str, Any]], upcoming: int, where: str
) -> str:
    count = len(events)
    noun = "event" if count == 1 else "events"
    text = f"{count} open or upcoming AWS Health {noun} for {where}"
    if open_issues:
        names = ", ".join(
            sorted({f"{e.get('service')} {e.get('eventTypeCode')}" for e in open_issues})
        )
        return f"{text}; {len(open_issues)} open AWS issue(s): {names}."
    if upcoming:
        return f"{text}, {upcoming} upcoming; no open AWS service issue."
    return f"{text}; no open AWS service issue."


STEPS = (health_events,)
