"""CloudWatch: which alarms are firing, how an alarm has behaved, and what a metric did."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.errors import StepError
from bot.results import Finding, Series, Severity, Status, StepOutput, Table
from bot.steps.base import StepContext, StepParams, step

_MAX_NAMES_IN_SUMMARY = 5
_REASON_CHARS = 300
_FLAPPING = 3  # this many transitions into ALARM in the window reads as flapping


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if isinstance(value, datetime) else ""


def _short(text: str, limit: int = _REASON_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _names(names: list[str]) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:_MAX_NAMES_IN_SUMMARY])
    extra = len(names) - _MAX_NAMES_IN_SUMMARY
    return f"{shown} and {extra} more" if extra > 0 else shown


# --- cloudwatch.alarms -------------------------------------------------------------------------


class AlarmsParams(StepParams):
    """Which firing alarms to list."""

    name_prefix: str | None = Field(
        default=None, description="Only alarms whose name starts with this."
    )


@step("cloudwatch.alarms", params=AlarmsParams, permissions=("cloudwatch:DescribeAlarms",))
async def alarms(ctx: StepContext, params: AlarmsParams) -> StepOutput:
    """Every CloudWatch alarm (metric and composite) currently in ALARM, newest first.

    Shows what else is firing right now: several alarms going off together usually share
    a cause. Each comes with the reason CloudWatch gives for its state.

    Example:
        - id: firing
          uses: cloudwatch.alarms
          with:
            name_prefix: prod-
    """
    args: dict[str, Any] = {
        "StateValue": "ALARM",
        "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
        "MaxRecords": 100,
    }
    if params.name_prefix:
        args["AlarmNamePrefix"] = params.name_prefix
    pages = await ctx.paginate("cloudwatch", "describe_alarms", max_pages=5, **args)
    found = [
        _alarm_row(alarm, kind)
        for page in pages
        for key, kind in (("MetricAlarms", "metric"), ("CompositeAlarms", "composite"))
        for alarm in page.get(key, [])
        # The API filters on both already; checked again so a partial filter can't mislead.
        if alarm.get("StateValue") == "ALARM"
        and str(alarm.get("AlarmName", "")).startswith(params.name_prefix or "")
    ]
    found.sort(key=lambda a: a["since"], reverse=True)
    scope = f" named `{params.name_prefix}*`" if params.name_prefix else ""
    if not found:
        return StepOutput(
            summary=f"No CloudWatch alarms{scope} are in ALARM.",
            data={"count": 0, "alarms": []},
        )
    noun = "alarm is" if len(found) == 1 else "alarms are"
    return StepOutput(
        summary=f"{len(found)} {noun}{scope} in ALARM: {_names([a['name'] for a in found])}.",
        status=Status.WARN,
        findings=tuple(
            Finding(f"{a['name']} (since {a['since']}): {a['reason']}", Severity.WARNING)
            for a in found[:10]
        ),
        tables=(
            Table(
                columns=("Alarm", "Type", "Since", "Metric", "Reason"),
                rows=tuple(
                    (a["name"], a["type"], a["since"], a["metric"], a["reason"]) for a in found
                ),
                title="Alarms in ALARM",
            ),
        ),
        data={"count": len(found), "alarms": found},
    )


def _alarm_row(alarm: dict[str, Any], kind: str) -> dict[str, str]:
    if kind == "composite":
        metric = _short(str(alarm.get("AlarmRule", "")), 120)
    elif alarm.get("MetricName"):
        stat = alarm.get("Statistic") or alarm.get("ExtendedStatistic") or ""
        metric = f"{alarm.get('Namespace', '')} {alarm['MetricName']} {stat}".strip()
    else:
        metric = "metric math"
    return {
        "name": str(alarm.get("AlarmName", "")),
        "type": kind,
        "since": _when(alarm.get("StateUpdatedTimestamp")),
        "metric": metric,
        "reason": _short(str(alarm.get("StateReason", ""))),
    }


# --- cloudwatch.alarm_history ------------------------------------------------------------------


class AlarmHistoryParams(StepParams):
    """Which alarm, over which window."""

    alarm_name: str | None = Field(
        default=None, description="The alarm (default: the alarm that started this run)."
    )
    lookback: Duration = Field(default=timedelta(hours=24), description="How far back to look.")
    max_items: int = Field(default=50, ge=1, le=500, description="How many transitions to list.")


@step(
    "cloudwatch.alarm_history",
    params=AlarmHistoryParams,
    permissions=("cloudwatch:DescribeAlarmHistory",),
)
async def alarm_history(ctx: StepContext, params: AlarmHistoryParams) -> StepOutput:
    """An alarm's state changes in the lookback, newest first.

    Tells a new incident from a flapping alarm: how often it went to ALARM, when it last
    recovered, and why each change happened.

    Example:
        - id: history
          uses: cloudwatch.alarm_history
          with:
            lookback: 3d
    """
    name = params.alarm_name or (ctx.alarm.name if ctx.alarm else "")
    if not name:
        raise StepError(
            "cloudwatch.alarm_history needs `alarm_name` when the run was not started by an alarm."
        )
    pages = await ctx.paginate(
        "cloudwatch",
        "describe_alarm_history",
        max_pages=5,
        AlarmName=name,
        HistoryItemType="StateUpdate",
        StartDate=ctx.now - params.lookback,
        EndDate=ctx.now,
        ScanBy="TimestampDescending",
        MaxRecords=100,
    )
    items = [item for page in pages for item in page.get("AlarmHistoryItems", [])]
    items.sort(key=lambda i: i["Timestamp"], reverse=True)
    transitions = [_transition(item) for item in items]
    window = f"the last {format_duration(params.lookback)}"
    if not transitions:
        return StepOutput(
            summary=f"`{name}` did not change state in {window}.",
            data={"alarm_name": name, "count": 0, "alarm_count": 0, "transitions": []},
        )
    into_alarm = sum(1 for t in transitions if t["to"] == "ALARM")
    latest = transitions[0]
    flapping = into_alarm >= _FLAPPING
    summary = (
        f"`{name}` changed state {len(transitions)} time(s) in {window}, "
        f"{into_alarm} into ALARM; latest: {latest['from']} → {latest['to']} at {latest['time']}."
    )
    findings = [Finding(f"Latest reason: {latest['reason']}")] if latest["reason"] else []
    if flapping:
        summary += " It is flapping."
        findings.insert(
            0,
            Finding(
                f"`{name}` went into ALARM {into_alarm} times in {window}: it is flapping "
                "(a threshold too close to normal, or a recurring problem).",
                Severity.WARNING,
            ),
        )
    shown = transitions[: params.max_items]
    return StepOutput(
        summary=summary,
        status=Status.WARN if flapping else Status.OK,
        findings=tuple(findings),
        tables=(
            Table(
                columns=("When", "From", "To", "Reason"),
                rows=tuple((t["time"], t["from"], t["to"], t["reason"]) for t in shown),
                title=f"State changes of {name}",
            ),
        ),
        data={
            "alarm_name": name,
            "count": len(transitions),
            "alarm_count": into_alarm,
            "transitions": shown,
        },
    )


def _transition(item: dict[str, Any]) -> dict[str, str]:
    """One state change; HistoryData is a JSON string inside the JSON answer."""
    try:
        data = json.loads(item.get("HistoryData") or "{}")
    except ValueError:
        data = {}
    old, new = data.get("oldState") or {}, data.get("newState") or {}
    return {
        "time": _when(item.get("Timestamp")),
        "from": str(old.get("stateValue", "")),
        "to": str(new.get("stateValue", "")),
        "reason": _short(str(new.get("stateReason") or item.get("HistorySummary", ""))),
    }


# --- cloudwatch.metric -------------------------------------------------------------------------


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
    pages = await ctx.paginate(
        "cloudwatch",
        "get_metric_data",
        max_pages=5,
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric_name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    },
                    "Period": period_s,
                    "Stat": statistic,
                },
                "ReturnData": True,
            }
        ],
        StartTime=ctx.now - params.lookback,
        EndTime=ctx.now,
        ScanBy="TimestampAscending",
    )
    points = sorted(
        (ts.astimezone(UTC), float(value))
        for page in pages
        for result in page.get("MetricDataResults", [])
        for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
    )
    label = f"{metric_name} {statistic}"
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
        series=(
            Series(
                label=label,
                timestamps=tuple(ts for ts, _ in points),
                values=tuple(values),
                threshold=threshold,
            ),
        ),
        data={
            **base,
            **stats,
            "period_s": period_s,
            "points": len(values),
            "breaching": breaching,
            "threshold": threshold,
            "latest_time": _when(latest_ts),
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


STEPS = (alarms, alarm_history, metric)
