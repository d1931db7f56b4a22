"""Auto Scaling: is the group at capacity, which instances are sick, did scaling fail?"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.results import Change, Evidence, Finding, Severity, Status, StepOutput, Symptom, Table
from bot.steps.base import StepContext, StepParams, step
from bot.steps.lookup import ResourceKind, describe_one
from bot.steps.support import required

_GROUP = ResourceKind(
    "Auto Scaling group",
    "autoscaling",
    "describe_auto_scaling_groups",
    by_name="AutoScalingGroupNames",
    listed="AutoScalingGroups",
)


class GroupParams(StepParams):
    """Which Auto Scaling group to look at, and how far back to read its scaling activities."""

    group: str | None = Field(
        default=None,
        description="Auto Scaling group name; defaults to the alarm's AutoScalingGroupName.",
    )
    lookback: Duration = Field(
        default=timedelta(hours=6),
        description="Show scaling activities that started within this long before now.",
    )
    max_activities: int = Field(
        default=10, ge=1, le=100, description="At most this many scaling activities, newest first."
    )


@step(
    "autoscaling.group",
    params=GroupParams,
    permissions=(
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeScalingActivities",
    ),
)
async def group(ctx: StepContext, params: GroupParams) -> StepOutput:
    """An Auto Scaling group's capacity, its unhealthy instances and its recent scaling activities.

    Reports min/desired/max against the instances in service, lists instances that are not
    healthy or not InService, and flags failed scaling activities with AWS's status message
    (a Spot price too low, an exhausted subnet, a bad launch template, ...). WARN when instances
    are unhealthy, fewer than desired are in service, or a scaling activity failed.

    Example:
        - id: asg
          uses: autoscaling.group
          with:
            group: "{{ alarm.dimensions.AutoScalingGroupName }}"
            lookback: 6h
    """
    name = required(params.group, ctx, "AutoScalingGroupName", "Auto Scaling group", "group")
    asg = await describe_one(ctx, _GROUP, name)
    name = asg["AutoScalingGroupName"]
    pages = await ctx.paginate(
        "autoscaling",
        "describe_scaling_activities",
        max_pages=3,
        AutoScalingGroupName=name,
        MaxRecords=min(100, params.max_activities * 2),
    )
    since = ctx.now - params.lookback
    activities = [
        a for page in pages for a in page.get("Activities", []) if a["StartTime"] >= since
    ]
    activities.sort(key=lambda a: a["StartTime"], reverse=True)
    activities = activities[: params.max_activities]
    return _report(name, asg, activities, format_duration(params.lookback))


def _report(
    name: str, asg: dict[str, Any], activities: list[dict[str, Any]], lookback: str
) -> StepOutput:
    instances = asg.get("Instances", [])
    minimum, desired, maximum = asg["MinSize"], asg["DesiredCapacity"], asg["MaxSize"]
    in_service = sum(1 for i in instances if i["LifecycleState"] == "InService")
    bad = [
        i for i in instances if i["HealthStatus"] != "Healthy" or i["LifecycleState"] != "InService"
    ]
    unhealthy = [i for i in bad if i["HealthStatus"] != "Healthy"]
    failed = [a for a in activities if a["StatusCode"] in ("Failed", "Cancelled")]

    findings = [
        Finding(
            f"Scaling activity failed at {_when(a['StartTime'])}: {_failure(a)}", Severity.CRITICAL
        )
        for a in failed
    ]
    findings += [
        Finding(
            f"{i['InstanceId']} ({i.get('AvailabilityZone', '?')}) is "
            f"{i['HealthStatus']} / {i['LifecycleState']}.",
            Severity.WARNING if i in unhealthy else Severity.INFO,
        )
        for i in bad
    ]
    if in_service < desired:
        findings.append(
            Finding(
                f"Only {in_service} of {desired} desired instances are in service.",
                Severity.WARNING,
            )
        )
    for process in asg.get("SuspendedProcesses", []):
        findings.append(
            Finding(f"Process {process['ProcessName']} is suspended.", Severity.WARNING)
        )

    capacity = f"{in_service} in service (min {minimum}, desired {desired}, max {maximum})"
    problems = []
    if unhealthy:
        problems.append(f"{len(unhealthy)} unhealthy")
    if failed:
        problems.append(f"{len(failed)} failed scaling activit{'y' if len(failed) == 1 else 'ies'}")
    if in_service < desired and not problems:
        problems.append("below desired capacity")
    summary = f"`{name}`: {capacity}."
    if problems:
        summary += " " + ", ".join(problems).capitalize() + "."
    elif activities:
        summary += f" {len(activities)} scaling activities in the last {lookback}, none failed."
    else:
        summary += f" No scaling activity in the last {lookback}."

    warn = bool(unhealthy or failed or in_service < desired)
    return StepOutput(
        summary=summary,
        status=Status.WARN if warn else Status.OK,
        findings=tuple(findings),
        tables=_tables(instances, activities),
        data={
            "name": name,
            "min": minimum,
            "desired": desired,
            "max": maximum,
            "in_service": in_service,
            "unhealthy": len(unhealthy),
            "not_in_service": [
                {
                    "instance_id": i["InstanceId"],
                    "health": i["HealthStatus"],
                    "state": i["LifecycleState"],
                }
                for i in bad
            ],
            "failed_activities": len(failed),
            "at_max": desired >= maximum > 0,
            "activities": [
                {
                    "status": a["StatusCode"],
                    "start": _when(a["StartTime"]),
                    "description": a.get("Description", ""),
                    "message": a.get("StatusMessage", ""),
                }
                for a in activities
            ],
        },
        evidence=_evidence(name, asg, activities, in_service, unhealthy),
    )


def _evidence(
    name: str,
    asg: dict[str, Any],
    activities: list[dict[str, Any]],
    in_service: int,
    unhealthy: list[dict[str, Any]],
) -> tuple[Evidence, ...]:
    """Too few or sick instances, a group that cannot grow, and instances taken away (a
    scale-in can cause trouble; a scale-out answers it, so it is no suspect)."""
    desired, maximum = asg["DesiredCapacity"], asg["MaxSize"]
    resources = (name, str(asg.get("AutoScalingGroupARN", "")))
    found: list[Evidence] = []
    if in_service < desired:
        found.append(
            Symptom(f"only {in_service} of {desired} desired instances are in service", resources)
        )
    if unhealthy:
        ids = tuple(i["InstanceId"] for i in unhealthy)
        count = len(ids)
        found.append(
            Symptom(f"{count} instance{'s' if count != 1 else ''} unhealthy", resources + ids)
        )
    if desired >= maximum > 0:
        found.append(
            Symptom(f"Auto Scaling group `{name}` is at its maximum size ({maximum})", resources)
        )
    for activity in activities:
        description = str(activity.get("Description", ""))
        if description.startswith("Terminating") and activity["StatusCode"] == "Successful":
            found.append(
                Change(
                    at=activity["StartTime"],
                    action="scale-in",
                    resources=resources,
                    detail=description,
                )
            )
    return tuple(found)


def _tables(instances: list[dict[str, Any]], activities: list[dict[str, Any]]) -> tuple[Table, ...]:
    tables = []
    if instances:
        tables.append(
            Table(
                title="Instances",
                columns=("instance", "zone", "state", "health", "type"),
                rows=tuple(
                    (
                        i["InstanceId"],
                        i.get("AvailabilityZone", ""),
                        i["LifecycleState"],
                        i["HealthStatus"],
                        i.get("InstanceType", ""),
                    )
                    for i in instances
                ),
            )
        )
    if activities:
        tables.append(
            Table(
                title="Scaling activities",
                columns=("started", "status", "description"),
                rows=tuple(
                    (_when(a["StartTime"]), a["StatusCode"], a.get("Description", ""))
                    for a in activities
                ),
            )
        )
    return tuple(tables)


def _failure(activity: dict[str, Any]) -> str:
    message = activity.get("StatusMessage") or activity.get("Description", "")
    return str(message).strip()


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


STEPS = (group,)
