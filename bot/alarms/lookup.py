"""``/triage alarm <name>``: an alarm's current state from CloudWatch, as an ``Alarm``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients


async def lookup_alarm(aws: AwsClients, name: str, region: str | None = None) -> Alarm | None:
    """The metric or composite alarm called ``name``, or None when there is none."""
    target = aws.target(region)
    response = await aws.call(
        "cloudwatch",
        "describe_alarms",
        target,
        AlarmNames=[name],
        AlarmTypes=["MetricAlarm", "CompositeAlarm"],
    )
    for item in response.get("MetricAlarms", []):
        return _metric_alarm(item, target.region)
    for item in response.get("CompositeAlarms", []):
        return _composite_alarm(item, target.region)
    return None


def _common(item: dict[str, Any], region: str) -> dict[str, Any]:
    arn = str(item.get("AlarmArn", ""))
    changed = item.get("StateUpdatedTimestamp")
    return {
        "source": AlarmSource.ALARM,
        "name": str(item.get("AlarmName", "")),
        "state": str(item.get("StateValue", "")),
        "reason": str(item.get("StateReason", "")),
        "arn": arn,
        "account": arn.split(":")[4] if arn.count(":") >= 5 else "",
        "region": arn.split(":")[3] if arn.count(":") >= 5 else region,
        "changed_at": changed if isinstance(changed, datetime) else datetime.now(UTC),
        "description": str(item.get("AlarmDescription") or ""),
    }


def _metric_alarm(item: dict[str, Any], region: str) -> Alarm:
    dimensions = {str(d["Name"]): str(d["Value"]) for d in item.get("Dimensions", [])}
    namespace, metric = str(item.get("Namespace", "")), str(item.get("MetricName", ""))
    statistic = str(item.get("Statistic") or item.get("ExtendedStatistic") or "")
    comparison = str(item.get("ComparisonOperator", ""))
    threshold = item.get("Threshold")
    if metric:
        summary = f"{namespace} {metric} {statistic} {comparison} {threshold}".strip()
    else:
        expressions = [
            str(m.get("Expression")) for m in item.get("Metrics", []) if m.get("Expression")
        ]
        summary = "; ".join(expressions)
    return Alarm(
        **_common(item, region),
        namespace=namespace,
        metric_name=metric,
        statistic=statistic,
        period_s=item.get("Period"),
        threshold=float(threshold) if threshold is not None else None,
        comparison=comparison,
        metric_summary=summary,
        dimensions=dimensions,
    )


def _composite_alarm(item: dict[str, Any], region: str) -> Alarm:
    return Alarm(**_common(item, region), metric_summary=str(item.get("AlarmRule", "")))
