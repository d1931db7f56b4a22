"""RDS: a database instance's state, recent events, load and free storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.metric_data import MetricQuery
from bot.results import Finding, Severity, Status, StepOutput, Table
from bot.steps.base import StepContext, StepParams, step
from bot.steps.lookup import ResourceKind, describe_one
from bot.steps.metric_data import fetch_series, latest, peak, period_for
from bot.steps.support import required

GIB = 1024**3
_INSTANCE = ResourceKind(
    "DB instance",
    "rds",
    "describe_db_instances",
    by_name="DBInstanceIdentifier",
    by_arn="DBInstanceIdentifier",
    listed="DBInstances",
    many=False,
    missing=frozenset({"DBInstanceNotFound"}),
)


class InstanceParams(StepParams):
    """Which DB instance, how far back to look, and what counts as trouble."""

    db_instance: str | None = Field(
        default=None,
        description="DB instance identifier; defaults to the alarm's DBInstanceIdentifier.",
    )
    lookback: Duration = Field(
        default=timedelta(hours=1), description="Read events and metrics this far back from now."
    )
    cpu_warn_percent: float = Field(
        default=90, gt=0, le=100, description="WARN when CPUUtilization peaks at or above this."
    )
    free_storage_warn_percent: float = Field(
        default=10,
        gt=0,
        lt=100,
        description="WARN when free storage falls below this share of allocated storage.",
    )


@step(
    "rds.instance",
    params=InstanceParams,
    permissions=(
        "rds:DescribeDBInstances",
        "rds:DescribeEvents",
        "rds:DescribePendingMaintenanceActions",
        "cloudwatch:GetMetricData",
    ),
)
async def instance(ctx: StepContext, params: InstanceParams) -> StepOutput:
    """An RDS DB instance: status, class, engine, Multi-AZ, storage, maintenance, events, load.

    Reads the instance's description and pending maintenance, its RDS events over the lookback
    (failovers, reboots, storage-full, backups), and CPUUtilization, DatabaseConnections and
    FreeStorageSpace from CloudWatch. WARN when the instance is not `available`, CPU peaks at the
    threshold, or free storage is low.

    Example:
        - id: db
          uses: rds.instance
          with:
            db_instance: "{{ alarm.dimensions.DBInstanceIdentifier }}"
            lookback: 3h
    """
    name = required(params.db_instance, ctx, "DBInstanceIdentifier", "DB instance", "db_instance")
    db = await describe_one(ctx, _INSTANCE, name)
    name = db["DBInstanceIdentifier"]
    start = ctx.now - params.lookback
    pages = await ctx.paginate(
        "rds",
        "describe_events",
        max_pages=3,
        SourceIdentifier=name,
        SourceType="db-instance",
        StartTime=start,
        EndTime=ctx.now,
    )
    events = sorted(
        (e for p in pages for e in p.get("Events", [])), key=lambda e: e["Date"], reverse=True
    )
    maintenance = await ctx.call(
        "rds", "describe_pending_maintenance_actions", ResourceIdentifier=db["DBInstanceArn"]
    )
    actions = [
        a
        for r in maintenance.get("PendingMaintenanceActions", [])
        for a in r.get("PendingMaintenanceActionDetails", [])
    ]
    dims = {"DBInstanceIdentifier": name}
    series = await fetch_series(
        ctx,
        [
            MetricQuery("cpu", "AWS/RDS", "CPUUtilization", dims, "Average", "CPU %", "Percent"),
            MetricQuery(
                "connections", "AWS/RDS", "DatabaseConnections", dims, "Maximum", "Connections"
            ),
            MetricQuery(
                "free_storage", "AWS/RDS", "FreeStorageSpace", dims, "Minimum", "Free storage"
            ),
        ],
        start=start,
        end=ctx.now,
        period_s=period_for(params.lookback),
    )
    cpu_now, cpu_peak = latest(series["cpu"]), peak(series["cpu"])
    connections = latest(series["connections"])
    free = min(series["free_storage"].values) if series["free_storage"].values else None
    allocated_gib = float(db.get("AllocatedStorage") or 0)
    aurora = str(db.get("Engine", "")).startswith("aurora")

    findings: list[Finding] = []
    status = db["DBInstanceStatus"]
    if status != "available":
        findings.append(Finding(f"Status is `{status}`, not available.", Severity.CRITICAL))
    if cpu_peak is not None and cpu_peak >= params.cpu_warn_percent:
        findings.append(
            Finding(f"CPU peaked at {cpu_peak:.0f}% (now {cpu_now:.0f}%).", Severity.WARNING)
        )
    if free is not None and allocated_gib and not aurora:
        share = free / (allocated_gib * GIB) * 100
        if share < params.free_storage_warn_percent:
            findings.append(
                Finding(
                    f"Free storage low: {free / GIB:.1f} GiB of {allocated_gib:.0f} GiB "
                    f"({share:.0f}%).",
                    Severity.WARNING,
                )
            )
    for action in actions:
        findings.append(Finding(_maintenance_text(action)))
    pending = {k: str(v) for k, v in db.get("PendingModifiedValues", {}).items()}
    if pending:
        changes = ", ".join(f"{k}={v}" for k, v in pending.items())
        findings.append(Finding(f"Pending modifications: {changes}."))
    warn = any(f.severity is not Severity.INFO for f in findings)

    engine = f"{db['Engine']} {db.get('EngineVersion', '')}".strip()
    summary = (
        f"`{name}` is {status} ({db['DBInstanceClass']}, {engine}, "
        f"{'Multi-AZ' if db.get('MultiAZ') else 'single-AZ'})"
    )
    if cpu_now is not None:
        summary += f", CPU {cpu_now:.0f}% (peak {cpu_peak:.0f}%)"
    if connections is not None:
        summary += f", {connections:.0f} connections"
    summary += f"; {len(events)} events in the last {format_duration(params.lookback)}."
    if warn:
        summary += " " + next(f.text for f in findings if f.severity is not Severity.INFO)
    return StepOutput(
        summary=summary,
        status=Status.WARN if warn else Status.OK,
        findings=tuple(findings),
        tables=_tables(db, events),
        series=tuple(s for s in series.values() if s.values),
        data={
            "db_instance": name,
            "status": status,
            "instance_class": db["DBInstanceClass"],
            "engine": engine,
            "multi_az": bool(db.get("MultiAZ")),
            "allocated_storage_gib": allocated_gib,
            "free_storage_gib": None if free is None else round(free / GIB, 2),
            "cpu_percent": cpu_now,
            "cpu_peak_percent": cpu_peak,
            "connections": connections,
            "events": [{"date": _when(e["Date"]), "message": e["Message"]} for e in events],
            "pending_maintenance": [
                {"action": a.get("Action", ""), "description": a.get("Description", "")}
                for a in actions
            ],
        },
    )


def _maintenance_text(action: dict[str, Any]) -> str:
    text = f"Pending maintenance: {action.get('Action', '?')}"
    if action.get("Description"):
        text += f" ({action['Description']})"
    when = action.get("ForcedApplyDate") or action.get("AutoAppliedAfterDate")
    if when:
        text += f", applied from {_when(when)}"
    return text + "."


def _tables(db: dict[str, Any], events: list[dict[str, Any]]) -> tuple[Table, ...]:
    settings = Table(
        title="Instance",
        columns=("setting", "value"),
        rows=(
            ("class", db["DBInstanceClass"]),
            ("engine", f"{db['Engine']} {db.get('EngineVersion', '')}".strip()),
            ("multi-AZ", "yes" if db.get("MultiAZ") else "no"),
            ("storage", f"{db.get('AllocatedStorage')} GiB {db.get('StorageType', '')}".strip()),
            ("zone", str(db.get("AvailabilityZone", ""))),
        ),
    )
    if not events:
        return (settings,)
    return (
        settings,
        Table(
            title="Events",
            columns=("time", "event"),
            rows=tuple((_when(e["Date"]), e["Message"]) for e in events[:20]),
        ),
    )


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


STEPS = (instance,)
