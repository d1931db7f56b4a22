"""CloudWatch metrics: what one metric statistic did over the lookback, against a threshold."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.errors import StepError
from bot.metric_data import MetricQuery
from bot.results import Finding, Status, StepOutput
from bot.steps.base import StepContext, StepParams, step
from bot.steps.metric_data import fetch_series


class MetricParams(StepParams):
    """One statistic of one metric; anything left out comes from the alarm."""

    namespace: str | None = Field(default=None, description="e.g. AWS/ApplicationELB.")
    metric_name: str | None = Field(default=None, description="e.g. TargetResponseTime.")
    dimensions: dict[str, str] | None = Field(
        default=None, description="e.g. {LoadBalancer: app/web/50dc6c495c0c9188}."
    )
    statistic: str | None = Field(
        default=None, description="Average (default), Sum, Minimum, Maximum, SampleCount or p99."
    )
    period: Duration | None = Field(
        default=None,
        description="Width of one point (default: the alarm's period, else 1m up to a 3h "
        "lookback and 5m beyond).",
    )
    lookback: Duration = Field(default=timedelta(hours=3), description="How far back to look.")
    threshold: float | None = Field(
        default=None, description="Count points beyond this (default: the alarm's threshold)."
    )


@step("cloudwatch.metric", params=MetricParams, permissions=("cloudwatch:GetMetricData",))
async def metric(ctx: StepContext, params: MetricParams) -> StepOutput:
    """A metric statistic over the lookback, as numbers and a chart-ready series.

    Without parameters it charts the alarm's own metric, statistic, period and threshold,
    so the thread shows what the alarm saw. Reports the latest value, min, max, average and
    how many points were beyond the threshold.

    Example:
        - id: latency
          uses: cloudwatch.metric
          with:
            namespace: AWS/ApplicationELB
            metric_name: TargetResponseTime
            dimensions: {LoadBalancer: "{{ alarm.dimensions.LoadBalancer }}"}
            statistic: p99
            lookback: 6h
    """
    alarm = ctx.alarm
    namespace = params.namespace or (alarm.namespace if alarm else "")
    metric_name = params.metric_name or (alarm.metric_name if alarm else "")
    if not namespace or not metric_name:
        raise StepError(
            "cloudwatch.metric needs `namespace` and `metric_name` (the alarm has no single "
            "metric to default to)."
        )
    # The alarm's statistic, period and threshold only describe the alarm's own metric; its
    # dimensions name the resource, which other metrics of the same namespace share.
    same_metric = alarm is not None and (namespace, metric_name) == (
        alarm.namespace,
        alarm.metric_name,
    )
    dimensions = params.dimensions
    if dimensions is None:
        same_namespace = alarm is not None and alarm.namespace == namespace
        dimensions = dict(alarm.dimensions) if alarm and same_namespace else {}
    statistic = params.statistic or (alarm.statistic if alarm and same_metric else "") or "Average"
    period_s = _period(params, alarm.period_s if alarm and same_metric else None)
    threshold, comparison = params.threshold, ""
    if threshold is None and alarm and same_metric:
        threshold, comparison = alarm.threshold, alarm.comparison
    label = f"{metric_name} {statistic}"
    query = MetricQuery("metric", namespace, metric_name, dimensions, statistic, label=label)
    start = ctx.now - params.lookback
    found = await fetch_series(ctx, [query], start=start, end=ctx.now, period_s=period_s)
    series = found[query.key]
    points = list(zip(series.timestamps, series.values, strict=True))
    where = ", ".join(f"{k}={v}" for k, v in dimensions.items())
    described = f"{namespace} {metric_name}" + (f" ({where})" if where else "")
    window = f"{statistic}, {format_duration(timedelta(seconds=period_s))} periods, last " + (
        format_duration(params.lookback)
    )
    base = {"namespace": namespace, "metric_name": metric_name, "statistic": statistic}
    if not points:
        return StepOutput(
            summary=f"No datapoints for {described} ({window}).",
            findings=(
                Finding(
                    "No data: check the namespace, metric name and dimensions, or whether the "
                    "resource is sending this metric at all."
                ),
            ),
            data={**base, "points": 0, "breaching": 0, "latest": None},
        )
    values = [v for _, v in points]
    breaches = _breaches(comparison)
    breaching = sum(1 for v in values if threshold is not None and breaches(v, threshold))
    latest_ts, latest = points[-1]
    stats = {
        "latest": latest,
        "min": min(values),
        "max": max(values),
        "avg": sum(values) / len(values),
    }
    summary = (
        f"{described} ({window}): latest {_num(latest)} at {latest_ts:%H:%M} UTC, "
        f"min {_num(stats['min'])}, max {_num(stats['max'])}, avg {_num(stats['avg'])}"
    )
    latest_breaches = threshold is not None and breaches(latest, threshold)
    if threshold is not None:
        summary += f"; {breaching} of {len(values)} points beyond the threshold {_num(threshold)}"
        if latest_breaches:
            summary += ", including the latest"
    return StepOutput(
        summary=summary + ".",
        status=Status.WARN if latest_breaches else Status.OK,
        series=(dataclasses.replace(series, threshold=threshold),),
        data={
            **base,
            **stats,
            "period_s": period_s,
            "points": len(values),
            "breaching": breaching,
            "threshold": threshold,
            "latest_time": f"{latest_ts:%Y-%m-%d %H:%M:%S} UTC",
        },
    )


def _period(params: MetricParams, alarm_period_s: int | None) -> int:
    if params.period is not None:
        seconds = params.period.total_seconds()
        if seconds != int(seconds) or (seconds >= 60 and int(seconds) % 60):
            raise StepError(
                f"`period` must be whole minutes (or 1s, 5s, 10s, 30s), not {params.period}."
            )
        if seconds < 60 and int(seconds) not in (1, 5, 10, 30):
            raise StepError("`period` under a minute must be 1s, 5s, 10s or 30s.")
        return int(seconds)
    if alarm_period_s:
        return alarm_period_s
    return 60 if params.lookback <= timedelta(hours=3) else 300


def _breaches(comparison: str) -> Callable[[float, float], bool]:
    """Whether a value is on the alarm's wrong side of the threshold (default: above it)."""
    if comparison == "LessThanThreshold":
        return lambda v, t: v < t
    if comparison == "LessThanOrEqualToThreshold":
        return lambda v, t: v <= t
    if comparison == "GreaterThanOrEqualToThreshold":
        return lambda v, t: v >= t
    return lambda v, t: v > t


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


STEPS = (metric,)
