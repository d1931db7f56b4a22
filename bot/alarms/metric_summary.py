"""What an alarm watches, in one line: ``AWS/EC2 CPUUtilization Average > 15``.

CloudWatch alarms come in four kinds and each says what it watches differently: a single metric
(namespace, name, statistic, threshold), metric math (an expression over metric queries),
anomaly detection (a metric against an ``ANOMALY_DETECTION_BAND`` expression, no threshold) and
composite (a rule over other alarms). The parser reads them into ``Query`` values (from SNS or
EventBridge field names) and ``describe_metric`` turns them into the Alarm's metric fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

COMPARISONS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
BAND_COMPARISONS = {
    "GreaterThanUpperThreshold": "above",
    "LessThanLowerThreshold": "below",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside",
}
STATISTICS = {
    "AVERAGE": "Average",
    "SUM": "Sum",
    "MINIMUM": "Minimum",
    "MAXIMUM": "Maximum",
    "SAMPLE_COUNT": "SampleCount",
    "SAMPLECOUNT": "SampleCount",
}
"""SNS alarm messages spell statistics in capitals; the CloudWatch API does not."""


def statistic(name: str) -> str:
    """``AVERAGE`` → ``Average`` (as the CloudWatch API wants it); others unchanged."""
    return STATISTICS.get(name.upper(), name) if name else ""


@dataclass(frozen=True)
class Query:
    """One metric query of an alarm: a metric (``MetricStat``) or an expression."""

    id: str = ""
    expression: str = ""
    returns: bool = True
    namespace: str = ""
    metric_name: str = ""
    dimensions: dict[str, str] = field(default_factory=dict)
    stat: str = ""
    period: int | None = None

    def describe(self) -> str:
        if self.metric_name:
            parts = (self.namespace, self.metric_name, statistic(self.stat))
            return " ".join(part for part in parts if part)
        return self.expression


@dataclass(frozen=True)
class MetricFields:
    """The Alarm fields that describe the watched metric."""

    namespace: str = ""
    metric_name: str = ""
    statistic: str = ""
    period_s: int | None = None
    threshold: float | None = None
    comparison: str = ""
    metric_summary: str = ""
    dimensions: dict[str, str] = field(default_factory=dict)

    def alarm_fields(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "metric_name": self.metric_name,
            "statistic": self.statistic,
            "period_s": self.period_s,
            "threshold": self.threshold,
            "comparison": self.comparison,
            "metric_summary": self.metric_summary,
            "dimensions": dict(self.dimensions),
        }


def describe_metric(
    *,
    single: Query | None,
    queries: Sequence[Query],
    threshold: float | None,
    comparison: str,
    threshold_metric_id: str,
    period: int | None,
    rule: str,
) -> MetricFields:
    """The metric fields of an alarm of any kind (composite when ``rule`` is set)."""
    if rule:
        return MetricFields(metric_summary=rule)
    if single is not None:
        return MetricFields(
            namespace=single.namespace,
            metric_name=single.metric_name,
            statistic=statistic(single.stat),
            period_s=period if period is not None else single.period,
            threshold=threshold,
            comparison=comparison,
            metric_summary=compare(single.describe(), comparison, threshold),
            dimensions=single.dimensions,
        )
    metrics = [q for q in queries if q.metric_name]
    band = _band(queries, threshold_metric_id)
    if band is not None:
        watched = [q for q in queries if q.returns and q is not band] or metrics
        what = ", ".join(q.describe() for q in watched) or "metric"
        word = BAND_COMPARISONS.get(comparison, "vs")
        summary = f"{what} {word} {band.expression}"
        threshold = None
    else:
        expressions = [q for q in queries if q.expression]
        shown = [q for q in expressions if q.returns] or expressions
        shown = shown or [q for q in metrics if q.returns] or metrics
        summary = compare(", ".join(q.describe() for q in shown), comparison, threshold)
    return MetricFields(
        namespace=_one(q.namespace for q in metrics),
        metric_name=_one(q.metric_name for q in metrics),
        statistic=statistic(_one(q.stat for q in metrics)),
        period_s=period if period is not None else _one_period(q.period for q in metrics),
        threshold=threshold,
        comparison=comparison,
        metric_summary=summary,
        dimensions=_shared_dimensions(q.dimensions for q in metrics),
    )


def compare(what: str, comparison: str, threshold: float | None) -> str:
    """``what > 10``; ``what (threshold 10)`` when the operator is unknown."""
    if threshold is None:
        return what
    symbol = COMPARISONS.get(comparison)
    if symbol:
        return f"{what} {symbol} {number_text(threshold)}".strip()
    return f"{what} (threshold {number_text(threshold)})".strip()


def number_text(value: float) -> str:
    """``10.0`` → ``10``, ``0.25`` → ``0.25``."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _band(queries: Sequence[Query], threshold_metric_id: str) -> Query | None:
    for query in queries:
        if threshold_metric_id and query.id == threshold_metric_id and query.expression:
            return query
    for query in queries:
        if query.expression.upper().startswith("ANOMALY_DETECTION_BAND"):
            return query
    return None


def _one(values: Iterable[str]) -> str:
    """The value when all agree, else ""."""
    distinct = {v for v in values if v}
    return distinct.pop() if len(distinct) == 1 else ""


def _one_period(values: Iterable[int | None]) -> int | None:
    distinct = {v for v in values if v is not None}
    return distinct.pop() if len(distinct) == 1 else None


def _shared_dimensions(all_dimensions: Iterable[dict[str, str]]) -> dict[str, str]:
    """The metric queries' dimensions together, leaving out keys they give different values."""
    merged: dict[str, str] = {}
    conflicting: set[str] = set()
    for dimensions in all_dimensions:
        for key, value in dimensions.items():
            if merged.setdefault(key, value) != value:
                conflicting.add(key)
    return {k: v for k, v in merged.items() if k not in conflicting}
