"""ECS: a service's deployments, its events, and why its tasks stopped."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.errors import StepError
from bot.metric_data import MetricQuery
from bot.results import Status, StepOutput
from bot.steps.base import StepContext, StepParams, step
from bot.steps.ecs_report import ServiceReport
from bot.steps.metric_data import fetch_series, peak, period_for
from bot.steps.support import required

_DESCRIBE_TASKS_MAX = 100  # DescribeTasks takes at most 100 tasks per request


class ServiceParams(StepParams):
    """Which service, and how far back to read stopped tasks and service events."""

    cluster: str | None = Field(
        default=None, description="Cluster name or ARN; defaults to the alarm's ClusterName."
    )
    service: str | None = Field(
        default=None, description="Service name or ARN; defaults to the alarm's ServiceName."
    )
    lookback: Duration = Field(
        default=timedelta(hours=1),
        description="Stopped tasks, service events and deployments this far back from now.",
    )
    max_tasks: int = Field(
        default=20, ge=1, le=100, description="At most this many stopped tasks are read."
    )
    max_events: int = Field(
        default=10, ge=0, le=100, description="At most this many service events, newest first."
    )


@step(
    "ecs.service",
    params=ServiceParams,
    permissions=(
        "ecs:DescribeServices",
        "ecs:DescribeTaskDefinition",
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        "cloudwatch:GetMetricData",
    ),
)
async def service(ctx: StepContext, params: ServiceParams) -> StepOutput:
    """An ECS service's deployments, events and recently stopped tasks, and why they stopped.

    Lists the deployments (in progress and recent, with their task definition revisions and
    rollout state), the latest service events, and the tasks stopped within the lookback with
    their ``stopCode``, ``stoppedReason`` and container exit codes, said in words (exit 137 or
    ``OutOfMemoryError``: out of memory). The task definition's memory is set against the
    service's CloudWatch MemoryUtilization peak; a deployment that lowered memory says so.
    WARN when tasks stopped for a failure, fewer tasks run than desired, a rollout failed, or
    memory peaked above 90%.

    Example:
        - id: ecs
          uses: ecs.service
          with:
            cluster: "{{ alarm.dimensions.ClusterName }}"
            service: "{{ alarm.dimensions.ServiceName }}"
            lookback: 1h
    """
    cluster = required(params.cluster, ctx, "ClusterName", "ECS cluster", "cluster")
    name = required(params.service, ctx, "ServiceName", "ECS service", "service")
    found = await ctx.call("ecs", "describe_services", cluster=cluster, services=[name])
    services = [s for s in found.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        raise StepError(f"There is no ECS service `{name}` in cluster `{cluster}`.")
    svc = services[0]
    name = svc["serviceName"]
    since = ctx.now - params.lookback
    primary = next((d for d in svc.get("deployments", []) if d["status"] == "PRIMARY"), None)
    memory_change, tasks, series = await asyncio.gather(
        _memory_change(ctx, primary, since),
        _stopped_tasks(ctx, cluster, name, since, params.max_tasks),
        fetch_series(
            ctx,
            [
                MetricQuery(
                    "memory",
                    "AWS/ECS",
                    "MemoryUtilization",
                    {"ClusterName": cluster.rsplit("/", 1)[-1], "ServiceName": name},
                    "Maximum",
                    unit="Percent",
                )
            ],
            start=since,
            end=ctx.now,
            period_s=period_for(params.lookback),
        ),
    )
    report = ServiceReport(svc, since, memory_change, tasks, peak(series["memory"]))
    window = format_duration(params.lookback)
    events = [e for e in svc.get("events", []) if e["createdAt"] >= since][: params.max_events]
    return StepOutput(
        summary=report.summary(window),
        status=Status.WARN if report.warn else Status.OK,
        findings=report.findings(),
        tables=report.tables(events),
        series=tuple(s for s in series.values() if s.values),
        data=report.data(events),
        evidence=report.evidence(),
    )


async def _memory_change(
    ctx: StepContext, primary: dict[str, Any] | None, since: datetime
) -> tuple[str, int | None, int | None]:
    """The primary deployment's task definition (``family:revision``), its memory, and the
    previous revision's memory when the deployment started within the window."""
    if primary is None:
        return "", None, None
    current = (
        await ctx.call("ecs", "describe_task_definition", taskDefinition=primary["taskDefinition"])
    )["taskDefinition"]
    label = f"{current['family']}:{current['revision']}"
    before = None
    if primary.get("createdAt", since) >= since and current["revision"] > 1:
        try:
            answer = await ctx.call(
                "ecs",
                "describe_task_definition",
                taskDefinition=f"{current['family']}:{current['revision'] - 1}",
            )
            before = task_memory(answer["taskDefinition"])
        except StepError:
            before = None  # deregistered long ago: nothing to compare with
    return label, task_memory(current), before


def task_memory(definition: dict[str, Any]) -> int | None:
    """A task definition's memory in MB: the task-level size, else its containers' sum."""
    if definition.get("memory"):
        return int(definition["memory"])
    sizes = [
        int(c.get("memory") or c.get("memoryReservation") or 0)
        for c in definition.get("containerDefinitions", [])
    ]
    return sum(sizes) or None


async def _stopped_tasks(
    ctx: StepContext, cluster: str, name: str, since: datetime, limit: int
) -> list[dict[str, Any]]:
    listed = await ctx.call(
        "ecs", "list_tasks", cluster=cluster, serviceName=name, desiredStatus="STOPPED"
    )
    arns = listed.get("taskArns", [])[: min(limit, _DESCRIBE_TASKS_MAX)]
    if not arns:
        return []
    answer = await ctx.call("ecs", "describe_tasks", cluster=cluster, tasks=arns)
    tasks = [
        t
        for t in answer.get("tasks", [])
        if t.get("lastStatus") == "STOPPED" and (t.get("stoppedAt") or since) >= since
    ]
    tasks.sort(key=lambda t: t.get("stoppedAt") or since, reverse=True)
    return tasks


STEPS = (service,)
