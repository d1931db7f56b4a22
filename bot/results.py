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


class EvidenceKind(StrEnum):
    """What a step looked for, so that finding nothing can be said too."""

    CHANGES = "changes"  # write calls, stack updates, deployments, scaling, config updates
    HEALTH = "health"  # AWS Health events


@dataclass(frozen=True)
class Change:
    """Something changed: who did what to which resources, and when. Steps that read change
    records (CloudTrail, stack events, deployments, scaling activities) mark each one.
    ``resources`` are names, ids or ARNs as AWS gave them; ``detail`` a few words on what
    changed (``memory 512 → 256 MB``)."""

    at: datetime
    action: str  # ModifyTargetGroup, UpdateStack, deployment, ...
    resources: tuple[str, ...]
    who: str = ""  # principal (role/session, user); empty when AWS does not say
    detail: str = ""
    failed: bool = False  # the call or the deployment did not go through


@dataclass(frozen=True)
class Symptom:
    """Something is wrong with some resources: why, and since when (None: not known, at the
    latest since the alarm). ``what`` reads after "since then", e.g. ``2 of 3 targets fail
    health checks with 404``. ``service`` is the AWS Health name of the service it is in."""

    what: str
    resources: tuple[str, ...]
    since: datetime | None = None
    service: str = ""


@dataclass(frozen=True)
class AwsIssue:
    """An AWS Health event: AWS itself has (or will have) trouble with a service in a region."""

    service: str  # as Health names it: ELASTICLOADBALANCING, EC2, LAMBDA, ...
    region: str  # a region code, or "global"
    event: str  # the event type code
    since: datetime | None = None
    status: str = "open"  # open | upcoming
    category: str = "issue"  # issue | scheduledChange | accountNotification | investigation


@dataclass(frozen=True)
class Searched:
    """A step looked for changes (or Health events) from ``since`` on; ``complete`` is false when
    it could not look everywhere (no Health subscription, a truncated listing)."""

    kind: EvidenceKind
    since: datetime | None = None
    complete: bool = True


Evidence = Change | Symptom | AwsIssue | Searched


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
    evidence: tuple[Evidence, ...] = ()  # what the correlator (bot.correlate) reads


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
    evidence: tuple[Evidence, ...] = ()

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
            evidence=output.evidence,
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
