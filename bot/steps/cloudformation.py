"""CloudFormation: which stacks changed recently, and which resources failed and why."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.results import (
    Change,
    EvidenceKind,
    Finding,
    Searched,
    Severity,
    Status,
    StepOutput,
    Table,
)
from bot.steps.base import StepContext, StepParams, step

# Every status but DELETE_COMPLETE: ListStacks otherwise returns deleted stacks for 90 days.
LIVE_STATUSES = (
    "CREATE_IN_PROGRESS",
    "CREATE_FAILED",
    "CREATE_COMPLETE",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE",
    "DELETE_IN_PROGRESS",
    "DELETE_FAILED",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_COMPLETE",
    "UPDATE_FAILED",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE",
    "REVIEW_IN_PROGRESS",
    "IMPORT_IN_PROGRESS",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_IN_PROGRESS",
    "IMPORT_ROLLBACK_FAILED",
    "IMPORT_ROLLBACK_COMPLETE",
)


class StackEventsParams(StepParams):
    """One stack, or every stack that changed within the lookback."""

    stack: str | None = Field(
        default=None,
        description="Stack name or id; empty = every stack created or updated within lookback.",
    )
    lookback: Duration = Field(
        default=timedelta(hours=6), description="Show stacks and events this far back from now."
    )
    max_stacks: int = Field(
        default=5, ge=1, le=20, description="At most this many stacks, most recently changed first."
    )
    max_events: int = Field(
        default=15, ge=1, le=100, description="At most this many events per stack, newest first."
    )


def troubled(status: str) -> bool:
    """Stack statuses that mean the last change did not land: rolled back or failed."""
    return "ROLLBACK" in status or status.endswith("_FAILED")


@step(
    "cloudformation.stack_events",
    params=StackEventsParams,
    permissions=(
        "cloudformation:DescribeStacks",
        "cloudformation:ListStacks",
        "cloudformation:DescribeStackEvents",
    ),
)
async def stack_events(ctx: StepContext, params: StackEventsParams) -> StepOutput:
    """Recent CloudFormation deployments and their failures, failed resources first.

    For one stack, or every stack created or updated within the lookback: the stack status and
    its recent events. Resource events ending in `_FAILED` are listed first with their
    ResourceStatusReason (the actual error, e.g. a missing permission or a name clash). WARN when
    a stack is in a failed or rolled-back state (`UPDATE_ROLLBACK_*`, `*_FAILED`, ...) or a
    resource failed within the lookback.

    Example:
        - id: deploys
          uses: cloudformation.stack_events
          with:
            lookback: 3h
    """
    since = ctx.now - params.lookback
    if params.stack:
        found = await ctx.call("cloudformation", "describe_stacks", StackName=params.stack)
        stacks = found["Stacks"][:1]
    else:
        pages = await ctx.paginate(
            "cloudformation", "list_stacks", max_pages=5, StackStatusFilter=list(LIVE_STATUSES)
        )
        summaries = [s for p in pages for s in p.get("StackSummaries", [])]
        stacks = sorted((s for s in summaries if _changed(s) >= since), key=_changed, reverse=True)[
            : params.max_stacks
        ]
    window = format_duration(params.lookback)
    if not stacks:
        return StepOutput(
            summary=f"No stack was created or updated in the last {window}.",
            data={"stacks": [], "failures": [], "failed": 0, "troubled": 0},
            evidence=(Searched(EvidenceKind.CHANGES, since=since),),
        )
    histories = await asyncio.gather(
        *(_events(ctx, s["StackId"], since, params.max_events) for s in stacks)
    )
    failures = [
        (stack, event)
        for stack, events in zip(stacks, histories, strict=True)
        for event in events
        if str(event.get("ResourceStatus", "")).endswith("_FAILED")
    ]
    bad = [s for s in stacks if troubled(s["StackStatus"])]

    findings = [
        Finding(
            f"{event['LogicalResourceId']} ({event.get('ResourceType', '?')}) in "
            f"{stack['StackName']}: {event['ResourceStatus']} — "
            f"{event.get('ResourceStatusReason', 'no reason given')}",
            Severity.CRITICAL,
        )
        for stack, event in failures
    ]
    findings += [
        Finding(
            f"Stack {s['StackName']} is {s['StackStatus']}"
            + (f": {s['StackStatusReason']}" if s.get("StackStatusReason") else "."),
            Severity.WARNING,
        )
        for s in bad
    ]
    findings += [
        Finding(f"Stack {s['StackName']} is {s['StackStatus']} ({_when(_changed(s))}).")
        for s in stacks
        if s not in bad
    ]
    described = ", ".join(f"{s['StackName']} ({s['StackStatus']})" for s in stacks)
    if failures or bad:
        first = findings[0].text
        summary = (
            f"{len(failures)} failed resource{'s' if len(failures) != 1 else ''} and "
            f"{len(bad)} stack{'s' if len(bad) != 1 else ''} rolled back or failed "
            f"in the last {window}. First: {first}"
        )
    elif params.stack:
        summary = f"Stack {described}; no failed resources in the last {window}."
    else:
        summary = f"{len(stacks)} stacks changed in the last {window}, none failed: {described}."
    return StepOutput(
        summary=summary,
        status=Status.WARN if failures or bad else Status.OK,
        findings=tuple(findings),
        tables=tuple(
            _table(stack, events) for stack, events in zip(stacks, histories, strict=True) if events
        ),
        data={
            "stacks": [
                {"name": s["StackName"], "status": s["StackStatus"], "changed": _when(_changed(s))}
                for s in stacks
            ],
            "failures": [
                {
                    "stack": stack["StackName"],
                    "resource": event["LogicalResourceId"],
                    "type": event.get("ResourceType", ""),
                    "status": event["ResourceStatus"],
                    "reason": event.get("ResourceStatusReason", ""),
                    "time": _when(event["Timestamp"]),
                }
                for stack, event in failures
            ],
            "failed": len(failures),
            "troubled": len(bad),
        },
        evidence=(
            Searched(EvidenceKind.CHANGES, since=since),
            *(
                _change(stack, events, since)
                for stack, events in zip(stacks, histories, strict=True)
                if _changed(stack) >= since
            ),
        ),
    )


def _change(stack: dict[str, Any], events: list[dict[str, Any]], since: datetime) -> Change:
    """A stack update as the correlator reads it: the stack and the resources it touched
    within the window (by physical id: the names other steps see)."""
    touched = dict.fromkeys(
        str(e["PhysicalResourceId"])
        for e in events
        if e.get("PhysicalResourceId") and e["Timestamp"] >= since
    )
    return Change(
        at=_changed(stack),
        action="stack update" if stack.get("LastUpdatedTime") else "stack creation",
        resources=(stack["StackName"], stack["StackId"], *touched),
        detail=stack["StackStatus"],
    )


async def _events(
    ctx: StepContext, stack_id: str, since: datetime, limit: int
) -> list[dict[str, Any]]:
    """Events newer than ``since``, newest first (AWS returns them in that order)."""
    pages = await ctx.paginate(
        "cloudformation", "describe_stack_events", max_pages=3, StackName=stack_id
    )
    events = [e for p in pages for e in p.get("StackEvents", []) if e["Timestamp"] >= since]
    events.sort(key=lambda e: e["Timestamp"], reverse=True)
    failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("_FAILED")]
    others = [e for e in events if e not in failed]
    return (failed + others)[: max(limit, len(failed))]


def _changed(stack: dict[str, Any]) -> datetime:
    value: datetime = stack.get("LastUpdatedTime") or stack["CreationTime"]
    return value


def _table(stack: dict[str, Any], events: list[dict[str, Any]]) -> Table:
    ordered = sorted(events, key=lambda e: e["Timestamp"], reverse=True)
    return Table(
        title=f"{stack['StackName']} events",
        columns=("time", "resource", "status", "reason"),
        rows=tuple(
            (
                _when(e["Timestamp"]),
                e["LogicalResourceId"],
                e.get("ResourceStatus", ""),
                e.get("ResourceStatusReason", ""),
            )
            for e in ordered
        ),
    )


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


STEPS = (stack_events,)
