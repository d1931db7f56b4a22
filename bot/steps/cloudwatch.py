"""CloudWatch alarms: which are firing, and how one has behaved (metrics: ``cloudwatch_metric``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.errors import StepError
from bot.results import Finding, Severity, Status, StepOutput, Table
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


STEPS = (alarms, alarm_history)
