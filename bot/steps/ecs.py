"""ECS: a service's deployments, its events, and why its tasks stopped."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.errors import StepError
from bot.results import Change, Evidence, Finding, Severity, Status, StepOutput, Symptom, Table
from bot.steps.base import StepContext, StepParams, step
from bot.steps.metric_data import MetricQuery, fetch_series, peak, period_for
from bot.steps.support import required

MEMORY_WARN_PCT = 90.0
_DESCRIBE_TASKS_MAX = 100  # DescribeTasks takes at most 100 tasks per request
# Stop codes that are the scheduler's or a person's doing, not a failure.
_ROUTINE_STOPS = frozenset({"UserInitiated", "ServiceSchedulerInitiated"})
_STOP_WORDS = {
    "TaskFailedToStart": "failed to start",
    "EssentialContainerExited": "an essential container exited",
    "SpotInterruption": "Spot capacity was reclaimed",
    "TerminationNotice": "the host is being terminated",
    "ServiceSchedulerInitiated": "stopped by the service scheduler",
    "UserInitiated": "stopped by a user or an API call",
}


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
                    {"ClusterName": _short(cluster), "ServiceName": name},
                    "Maximum",
                    unit="Percent",
                )
            ],
            start=since,
            end=ctx.now,
            period_s=period_for(params.lookback),
        ),
    )
    report = _Report(svc, since, memory_change, tasks, peak(series["memory"]))
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


def stop_cause(task: dict[str, Any]) -> str:
    """Why a task stopped, in words: ``out of memory (exit 137)``, ``exited with code 1``, …"""
    containers = task.get("containers", [])
    for container in containers:
        reason = str(container.get("reason", ""))
        if "OutOfMemoryError" in reason:
            return "out of memory (OutOfMemoryError, exit 137)"
    for container in containers:
        code = container.get("exitCode")
        if code == 137:
            return "out of memory or killed (exit 137, SIGKILL)"
        if code not in (None, 0):
            return f"container `{container.get('name', '?')}` exited with code {code}"
    code = str(task.get("stopCode", ""))
    reason = str(task.get("stoppedReason", ""))
    words = _STOP_WORDS.get(code, code or "stopped")
    return f"{words}: {reason}" if reason and code not in _ROUTINE_STOPS else words


def _failed(task: dict[str, Any]) -> bool:
    return task.get("stopCode") not in _ROUTINE_STOPS or any(
        c.get("exitCode") not in (None, 0) for c in task.get("containers", [])
    )


def _short(arn_or_name: str) -> str:
    return arn_or_name.rsplit("/", 1)[-1]


def _revision(task_definition_arn: str) -> str:
    return _short(task_definition_arn)  # family:revision


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class _Report:
    """What one service's answers say, as the step's findings, tables, data and evidence."""

    def __init__(
        self,
        svc: dict[str, Any],
        since: datetime,
        memory: tuple[str, int | None, int | None],
        tasks: list[dict[str, Any]],
        memory_peak: float | None,
    ) -> None:
        self.svc = svc
        self.since = since
        self.revision, self.memory_mb, self.memory_before = memory
        self.tasks = tasks
        self.failed = [t for t in tasks if _failed(t)]
        self.causes = Counter(stop_cause(t) for t in self.failed)
        self.memory_peak = memory_peak
        self.deployments = sorted(
            svc.get("deployments", []), key=lambda d: d.get("createdAt", since), reverse=True
        )
        self.rollout_failed = [d for d in self.deployments if d.get("rolloutState") == "FAILED"]
        self.short_of_desired = svc.get("runningCount", 0) < svc.get("desiredCount", 0)

    @property
    def warn(self) -> bool:
        hot = self.memory_peak is not None and self.memory_peak >= MEMORY_WARN_PCT
        return bool(self.failed or self.rollout_failed or self.short_of_desired or hot)

    def _memory_detail(self) -> str:
        if self.memory_before and self.memory_mb and self.memory_before != self.memory_mb:
            return f"memory {self.memory_before} → {self.memory_mb} MB"
        return ""

    def summary(self, window: str) -> str:
        svc = self.svc
        text = (
            f"`{svc['serviceName']}`: {svc.get('runningCount', 0)} of "
            f"{svc.get('desiredCount', 0)} tasks running"
        )
        in_progress = [d for d in self.deployments if d.get("rolloutState") == "IN_PROGRESS"]
        if in_progress:
            text += f", deployment of {_revision(in_progress[0]['taskDefinition'])} in progress"
        if self.failed:
            cause, count = self.causes.most_common(1)[0]
            text += f"; {len(self.failed)} tasks stopped in the last {window} ({count}: {cause})"
        else:
            text += f"; no task failed in the last {window}"
        return text + "."

    def findings(self) -> tuple[Finding, ...]:
        found = [
            Finding(f"{count} task{'s' if count != 1 else ''} stopped: {cause}", Severity.CRITICAL)
            for cause, count in self.causes.most_common()
        ]
        for d in self.rollout_failed:
            found.append(
                Finding(
                    f"Deployment {d['id']} ({_revision(d['taskDefinition'])}) failed: "
                    f"{d.get('rolloutStateReason', 'no reason given')}",
                    Severity.CRITICAL,
                )
            )
        if self.short_of_desired:
            found.append(
                Finding(
                    f"Only {self.svc.get('runningCount', 0)} of {self.svc.get('desiredCount', 0)} "
                    "desired tasks are running.",
                    Severity.WARNING,
                )
            )
        if self.memory_mb is not None and self.memory_peak is not None:
            found.append(
                Finding(
                    f"Memory: {self.revision} reserves {self.memory_mb} MB; MemoryUtilization "
                    f"peaked at {self.memory_peak:.0f}%.",
                    Severity.WARNING if self.memory_peak >= MEMORY_WARN_PCT else Severity.INFO,
                )
            )
        if self._memory_detail():
            found.append(
                Finding(f"The deployment of {self.revision} changed {self._memory_detail()}.")
            )
        return tuple(found)

    def tables(self, events: list[dict[str, Any]]) -> tuple[Table, ...]:
        tables = []
        if self.failed:
            tables.append(
                Table(
                    title="Stopped tasks",
                    columns=("stopped", "task definition", "stop code", "why"),
                    rows=tuple(
                        (
                            _when(t["stoppedAt"]) if t.get("stoppedAt") else "",
                            _revision(t.get("taskDefinitionArn", "")),
                            str(t.get("stopCode", "")),
                            stop_cause(t),
                        )
                        for t in self.failed
                    ),
                )
            )
        tables.append(
            Table(
                title="Deployments",
                columns=("id", "status", "task definition", "rollout", "running", "started"),
                rows=tuple(
                    (
                        d["id"],
                        d["status"],
                        _revision(d["taskDefinition"]),
                        str(d.get("rolloutState", "")),
                        f"{d.get('runningCount', 0)}/{d.get('desiredCount', 0)}",
                        _when(d["createdAt"]) if d.get("createdAt") else "",
                    )
                    for d in self.deployments
                ),
            )
        )
        if events:
            tables.append(
                Table(
                    title="Service events",
                    columns=("time", "message"),
                    rows=tuple((_when(e["createdAt"]), e["message"]) for e in events),
                )
            )
        return tuple(tables)

    def data(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        svc = self.svc
        return {
            "service": svc["serviceName"],
            "desired": svc.get("desiredCount", 0),
            "running": svc.get("runningCount", 0),
            "pending": svc.get("pendingCount", 0),
            "task_definition": self.revision,
            "memory_mb": self.memory_mb,
            "memory_peak_pct": self.memory_peak,
            "stopped": len(self.failed),
            "out_of_memory": sum(n for cause, n in self.causes.items() if "exit 137" in cause),
            "deployments": [
                {
                    "id": d["id"],
                    "status": d["status"],
                    "task_definition": _revision(d["taskDefinition"]),
                    "rollout": str(d.get("rolloutState", "")),
                    "started": _when(d["createdAt"]) if d.get("createdAt") else "",
                }
                for d in self.deployments
            ],
            "tasks": [
                {
                    "task": _short(t["taskArn"]),
                    "stop_code": t.get("stopCode", ""),
                    "why": stop_cause(t),
                }
                for t in self.failed
            ],
            "events": [{"time": _when(e["createdAt"]), "message": e["message"]} for e in events],
        }

    def evidence(self) -> tuple[Evidence, ...]:
        svc = self.svc
        names = (svc["serviceArn"], svc["serviceName"])
        found: list[Evidence] = []
        for d in self.deployments:
            if d.get("createdAt") and d["createdAt"] >= self.since:
                primary = d["status"] == "PRIMARY"
                detail = ", ".join(
                    part
                    for part in (
                        f"task definition {_revision(d['taskDefinition'])}",
                        self._memory_detail() if primary else "",
                    )
                    if part
                )
                found.append(
                    Change(
                        at=d["createdAt"],
                        action="deployment",
                        resources=(*names, d["taskDefinition"]),
                        detail=detail,
                        failed=d.get("rolloutState") == "FAILED" and not self.failed,
                    )
                )
        if self.failed:
            cause, _ = self.causes.most_common(1)[0]
            count = len(self.failed)
            stopped = [t["stoppedAt"] for t in self.failed if t.get("stoppedAt")]
            found.append(
                Symptom(
                    f"{count} task{'s' if count != 1 else ''} stopped: {cause}",
                    (*names, *dict.fromkeys(t.get("taskDefinitionArn", "") for t in self.failed)),
                    since=min(stopped) if stopped else None,
                    service="ECS",
                )
            )
        elif self.short_of_desired:
            found.append(
                Symptom(
                    f"only {svc.get('runningCount', 0)} of {svc.get('desiredCount', 0)} tasks run",
                    names,
                    service="ECS",
                )
            )
        return tuple(found)


STEPS = (service,)
