"""Lambda: a function's configuration, its errors/throttles/duration, memory and timeouts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.errors import StepError
from bot.metric_data import MetricQuery
from bot.results import (
    Change,
    Evidence,
    Finding,
    Series,
    Severity,
    Status,
    StepOutput,
    Symptom,
    Table,
)
from bot.steps.base import StepContext, StepParams, step
from bot.steps.lookup import ResourceKind, describe_one
from bot.steps.metric_data import fetch_series, peak, period_for
from bot.steps.support import required

MEMORY_WARN = 0.9  # share of the configured memory
_REPORT = re.compile(r"Memory Size: (\d+) MB\s+Max Memory Used: (\d+) MB")
_TIMEOUT = "Task timed out"
_FUNCTION = ResourceKind(
    "Lambda function",
    "lambda",
    "get_function_configuration",
    by_name="FunctionName",
    by_arn="FunctionName",
    many=False,
    missing=frozenset({"ResourceNotFoundException"}),
)


class FunctionParams(StepParams):
    """Which function, and over how long a window to read its metrics and logs."""

    function_name: str | None = Field(
        default=None, description="Function name or ARN; defaults to the alarm's FunctionName."
    )
    lookback: Duration = Field(
        default=timedelta(hours=1), description="Read metrics and logs this far back from now."
    )
    duration_stat: Literal["Maximum", "p99", "p95", "Average"] = Field(
        default="Maximum", description="Statistic for the Duration metric."
    )


@dataclass(frozen=True)
class LogStats:
    """What the REPORT and timeout lines of the window say."""

    invocations: int = 0
    peak_used_mb: int = 0
    memory_mb: int = 0
    near_limit: int = 0  # invocations above MEMORY_WARN of memory
    timeouts: int = 0
    log_group_found: bool = True


@step(
    "lambda.function",
    params=FunctionParams,
    permissions=(
        "lambda:GetFunctionConfiguration",
        "cloudwatch:GetMetricData",
        "logs:FilterLogEvents",
    ),
)
async def function(ctx: StepContext, params: FunctionParams) -> StepOutput:
    """A Lambda function's health: configuration, metrics, memory use and timeouts.

    Shows runtime, memory, timeout, state and the last update status; Invocations, Errors,
    Throttles and Duration from CloudWatch over the lookback; and from the REPORT lines in the
    function's log group the peak memory used against the memory size. WARN on errors,
    throttles, timeouts ("Task timed out"), memory above 90%, or a failed last update.

    Example:
        - id: fn
          uses: lambda.function
          with:
            function_name: "{{ alarm.dimensions.FunctionName }}"
            lookback: 1h
    """
    name = required(params.function_name, ctx, "FunctionName", "Lambda function", "function_name")
    config = await describe_one(ctx, _FUNCTION, name)
    name = config["FunctionName"]
    start = ctx.now - params.lookback
    period = period_for(params.lookback)
    dims = {"FunctionName": name}
    series = await fetch_series(
        ctx,
        [
            MetricQuery("invocations", "AWS/Lambda", "Invocations", dims, "Sum", unit="Count"),
            MetricQuery("errors", "AWS/Lambda", "Errors", dims, "Sum", unit="Count"),
            MetricQuery("throttles", "AWS/Lambda", "Throttles", dims, "Sum", unit="Count"),
            MetricQuery(
                "duration",
                "AWS/Lambda",
                "Duration",
                dims,
                params.duration_stat,
                label=f"Duration {params.duration_stat}",
                unit="ms",
            ),
        ],
        start=start,
        end=ctx.now,
        period_s=period,
    )
    group = config.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{name}"
    logs = await _read_logs(
        ctx, group, int(start.timestamp() * 1000), int(ctx.now.timestamp() * 1000)
    )
    totals = {key: int(sum(s.values)) for key, s in series.items() if key != "duration"}
    duration_peak = peak(series["duration"])
    timeout_ms = int(config.get("Timeout", 3)) * 1000
    findings = _findings(config, totals, duration_peak, timeout_ms, logs, group)
    warn = any(f.severity is not Severity.INFO for f in findings)
    window = format_duration(params.lookback)
    summary = (
        f"`{name}` ({config.get('Runtime', 'container image')}, {config.get('MemorySize')} MB, "
        f"{config.get('Timeout')}s timeout): {totals['invocations']} invocations, "
        f"{totals['errors']} errors, {totals['throttles']} throttles in the last {window}."
    )
    if warn:
        summary += " " + next(f.text for f in findings if f.severity is not Severity.INFO)
    return StepOutput(
        summary=summary,
        status=Status.WARN if warn else Status.OK,
        findings=tuple(findings),
        tables=(_config_table(config),),
        series=tuple(s for s in series.values() if s.values),
        data={
            "function_name": name,
            "runtime": str(config.get("Runtime", "")),
            "memory_mb": config.get("MemorySize"),
            "timeout_s": config.get("Timeout"),
            "state": str(config.get("State", "")),
            "last_update_status": str(config.get("LastUpdateStatus", "")),
            **totals,
            "duration_peak_ms": duration_peak,
            "peak_memory_used_mb": logs.peak_used_mb,
            "near_memory_limit": logs.near_limit,
            "timeouts": logs.timeouts,
        },
        evidence=_evidence(config, series, totals, logs, since=start),
    )


def _evidence(
    config: dict[str, Any],
    series: dict[str, Series],
    totals: dict[str, int],
    logs: LogStats,
    *,
    since: datetime,
) -> tuple[Evidence, ...]:
    """Throttles, errors and timeouts (since the first data point showing them), and the last
    update of the function's code or configuration when it falls in the window."""
    resources = (str(config["FunctionName"]), str(config.get("FunctionArn", "")))
    found: list[Evidence] = []
    for key, words in (("throttles", "throttled"), ("errors", "failed")):
        if totals[key]:
            first = _first_nonzero(series[key])
            count = totals[key]
            noun = "invocation" if count == 1 else "invocations"
            found.append(
                Symptom(f"{count} {noun} {words}", resources, since=first, service="LAMBDA")
            )
    if logs.timeouts:
        found.append(Symptom(f"{logs.timeouts} invocations timed out", resources, service="LAMBDA"))
    modified = _modified(config)
    if modified is not None and modified >= since:
        found.append(
            Change(
                at=modified,
                action="code or configuration update",
                resources=resources,
                failed=config.get("LastUpdateStatus") == "Failed",
            )
        )
    return tuple(found)


def _first_nonzero(series: Series) -> datetime | None:
    points = sorted(zip(series.timestamps, series.values, strict=False))
    return next((t for t, v in points if v > 0), None)


def _modified(config: dict[str, Any]) -> datetime | None:
    """LastModified, as Lambda writes it: ``2024-05-01T11:40:00.000+0000``."""
    try:
        return datetime.strptime(str(config.get("LastModified", "")), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None


async def _read_logs(ctx: StepContext, group: str, start_ms: int, end_ms: int) -> LogStats:
    try:
        pages = await ctx.paginate(
            "logs",
            "filter_log_events",
            max_pages=5,
            logGroupName=group,
            startTime=start_ms,
            endTime=end_ms,
            filterPattern=f'?REPORT ?"{_TIMEOUT}"',
        )
    except StepError as exc:
        if exc.aws_code == "ResourceNotFoundException":
            return LogStats(log_group_found=False)
        raise
    return parse_log_lines(e.get("message", "") for p in pages for e in p.get("events", []))


def parse_log_lines(lines: Iterable[str]) -> LogStats:
    """Count REPORT lines (memory used vs size) and 'Task timed out' lines."""
    invocations = near = timeouts = peak_used = memory = 0
    for line in lines:
        if _TIMEOUT in line:
            timeouts += 1
            continue
        found = _REPORT.search(line)
        if not found:
            continue
        size, used = int(found.group(1)), int(found.group(2))
        invocations += 1
        memory = size
        peak_used = max(peak_used, used)
        near += used > MEMORY_WARN * size
    return LogStats(invocations, peak_used, memory, near, timeouts)


def _findings(
    config: dict[str, Any],
    totals: dict[str, int],
    duration_peak: float | None,
    timeout_ms: int,
    logs: LogStats,
    group: str,
) -> list[Finding]:
    findings = []
    if config.get("LastUpdateStatus") == "Failed" or config.get("State") == "Failed":
        reason = config.get("LastUpdateStatusReason") or config.get("StateReason") or "no reason"
        findings.append(Finding(f"The last update failed: {reason}", Severity.CRITICAL))
    if logs.timeouts:
        findings.append(
            Finding(
                f"{logs.timeouts} invocation{'s' if logs.timeouts != 1 else ''} timed out "
                f"(timeout {timeout_ms // 1000}s).",
                Severity.CRITICAL,
            )
        )
    if totals["errors"]:
        rate = totals["errors"] / totals["invocations"] if totals["invocations"] else 1.0
        findings.append(
            Finding(f"{totals['errors']} errors ({rate:.0%} of invocations).", Severity.WARNING)
        )
    if totals["throttles"]:
        findings.append(
            Finding(
                f"{totals['throttles']} throttled invocations: concurrency limit reached.",
                Severity.WARNING,
            )
        )
    if logs.near_limit:
        findings.append(
            Finding(
                f"Memory: {logs.near_limit} of {logs.invocations} invocations used over "
                f"{MEMORY_WARN:.0%} of {logs.memory_mb} MB (peak {logs.peak_used_mb} MB).",
                Severity.WARNING,
            )
        )
    elif logs.invocations:
        findings.append(Finding(f"Peak memory used {logs.peak_used_mb} of {logs.memory_mb} MB."))
    if not logs.log_group_found:
        findings.append(Finding(f"No log group {group}: no invocation has logged yet."))
    if duration_peak is not None and duration_peak >= 0.9 * timeout_ms and not logs.timeouts:
        findings.append(
            Finding(
                f"Duration reached {duration_peak:,.0f} ms of the {timeout_ms:,} ms timeout.",
                Severity.WARNING,
            )
        )
    return findings


def _config_table(config: dict[str, Any]) -> Table:
    rows = [
        ("runtime", str(config.get("Runtime", "container image"))),
        ("memory", f"{config.get('MemorySize')} MB"),
        ("timeout", f"{config.get('Timeout')} s"),
        ("state", str(config.get("State", ""))),
        ("last update", str(config.get("LastUpdateStatus", ""))),
        ("last modified", str(config.get("LastModified", ""))),
    ]
    return Table(title="Configuration", columns=("setting", "value"), rows=tuple(rows))


STEPS = (function,)
