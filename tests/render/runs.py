"""RunResults to render: built by hand, the way the executor would hand them over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.results import Finding, RunResult, Series, Severity, Status, StepResult, Table

STARTED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def make_run(steps: list[StepResult], *, finished: bool = True, **extra: object) -> RunResult:
    fields: dict[str, object] = {
        "run_id": "3f2a1b9c0d1e",
        "playbook": "alb-errors",
        "title": "ALB 5xx errors",
        "params": {"load_balancer": "app/web/50dc6c495c0c9188", "lookback": "1h"},
        "steps": tuple(steps),
        "started_at": STARTED,
        "finished_at": STARTED + timedelta(seconds=12.3) if finished else None,
        "requested_by": "U012ABCDEF",
    }
    fields.update(extra)
    return RunResult(**fields)  # type: ignore[arg-type]


def incident_run() -> RunResult:
    """A realistic finished run: a warning with findings and a table, an error, a skip."""
    t0 = STARTED
    return make_run(
        [
            StepResult(
                step_id="targets",
                uses="elbv2.target_health",
                status=Status.WARN,
                summary="1 of 3 targets unhealthy in `web-tg`.",
                findings=(
                    Finding("i-0abc failed health checks: Target.Timeout", Severity.CRITICAL),
                    Finding("i-0def is draining", Severity.INFO),
                ),
                tables=(
                    Table(
                        columns=("target", "port", "state", "reason"),
                        rows=(
                            ("i-0abc", "80", "unhealthy", "Target.Timeout"),
                            ("i-0def", "80", "draining", "Target.DeregistrationInProgress"),
                            ("i-0123", "80", "healthy", ""),
                        ),
                        title="Targets",
                    ),
                ),
                duration_s=0.42,
                attempts=3,
                retries=2,
            ),
            StepResult(
                step_id="errors_5xx",
                uses="cloudwatch.metric",
                status=Status.OK,
                summary="5xx peaked at 120/min.",
                series=(
                    Series(
                        label="HTTPCode_Target_5XX_Count",
                        timestamps=(t0, t0 + timedelta(minutes=1), t0 + timedelta(minutes=2)),
                        values=(3.0, 120.0, 40.0),
                        unit="Count",
                    ),
                ),
                duration_s=1.25,
                attempts=1,
            ),
            StepResult(
                step_id="changes",
                uses="cloudtrail.recent_changes",
                status=Status.ERROR,
                summary="Access denied: the bot's role may not call `cloudtrail:LookupEvents`.",
                duration_s=0.1,
            ),
            StepResult(
                step_id="logs",
                uses="logs.insights",
                status=Status.SKIPPED,
                summary="skipped: needs `changes`, which failed",
            ),
        ]
    )
