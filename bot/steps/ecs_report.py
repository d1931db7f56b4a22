"""What an ECS service's answers say: why its tasks stopped (in words), and the step's
findings, tables, data and evidence (``bot.steps.ecs``)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bot.results import Change, Evidence, Finding, Severity, Symptom, Table

MEMORY_WARN_PCT = 90.0
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


class ServiceReport:
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
