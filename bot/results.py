"""Plain data that a run produces. No Slack, no AWS in here: renderers and the store read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Where a step (or a whole run) stands."""

    PENDING = "pending"  # not started yet
    RUNNING = "running"
    OK = "ok"  # ran, nothing alarming
    WARN = "warn"  # ran, and found a problem worth reading first
    ERROR = "error"  # could not run: AWS said no, bad input, a bug
    TIMEOUT = "timeout"
    SKIPPED = "skipped"  # `when` was false, or a step it needs failed

    @property
    def finished(self) -> bool:
        return self not in (Status.PENDING, Status.RUNNING)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Finding:
    """One sentence an engineer should read, e.g. 'i-0abc failed health checks: Target.Timeout'."""

    text: str
    severity: Severity = Severity.INFO


@dataclass(frozen=True)
class Table:
    """Rows to show as a table (Logs Insights rows, unhealthy targets, ...)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""


@dataclass(frozen=True)
class Series:
    """A metric series, ready for a chart."""

    label: str
    timestamps: tuple[datetime, ...]
    values: tuple[float, ...]
    unit: str = ""
    threshold: float | None = None


@dataclass(frozen=True)
class StepOutput:
    """What a step function returns. ``data`` is what later templates see as ``steps.<id>``."""

    summary: str
    status: Status = Status.OK
    findings: tuple[Finding, ...] = ()
    tables: tuple[Table, ...] = ()
    series: tuple[Series, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    """A finished (or pending) step as the renderers and the store see it."""

    step_id: str
    uses: str
    status: Status
    summary: str = ""
    findings: tuple[Finding, ...] = ()
    tables: tuple[Table, ...] = ()
    series: tuple[Series, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    attempts: int = 0  # AWS requests made, retries included
    retries: int = 0  # of those, how many were retries (throttling, 5xx)

    @classmethod
    def from_output(
        cls,
        step_id: str,
        uses: str,
        output: StepOutput,
        *,
        duration_s: float,
        attempts: int = 0,
        retries: int = 0,
    ) -> StepResult:
        return cls(
            step_id=step_id,
            uses=uses,
            status=output.status,
            summary=output.summary,
            findings=output.findings,
            tables=output.tables,
            series=output.series,
            data=output.data,
            duration_s=duration_s,
            attempts=attempts,
            retries=retries,
        )


@dataclass(frozen=True)
class RunResult:
    """A whole playbook run, in progress or finished."""

    run_id: str
    playbook: str
    title: str
    params: Mapping[str, str]
    steps: tuple[StepResult, ...]
    started_at: datetime
    finished_at: datetime | None = None
    requested_by: str = ""  # Slack user id, "alarm", or "cli"
    error: str = ""  # set when the run itself failed (not a step)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def status(self) -> Status:
        """The run's outcome: error if the run failed, warn if any step found or hit a problem."""
        if self.error:
            return Status.ERROR
        if not self.finished:
            return Status.RUNNING
        if any(s.status in (Status.WARN, Status.ERROR, Status.TIMEOUT) for s in self.steps):
            return Status.WARN
        return Status.OK

    @property
    def duration_s(self) -> float:
        if self.finished_at is None:
            return 0.0
        return (self.finished_at - self.started_at).total_seconds()
