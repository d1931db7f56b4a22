"""CloudWatch GetMetricData for steps: a few metrics of one resource, as chartable series."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.results import Series
from bot.steps.base import StepContext

MAX_POINTS = 360  # per series: enough for a chart, small enough for one request


@dataclass(frozen=True)
class MetricQuery:
    """One metric statistic to fetch; ``key`` names it in the result."""

    key: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    stat: str
    label: str = ""
    unit: str = ""


def period_for(lookback: timedelta, minimum_s: int = 60) -> int:
    """A period (whole minutes, at least ``minimum_s``) giving at most MAX_POINTS points."""
    seconds = lookback.total_seconds() / MAX_POINTS
    return max(minimum_s, math.ceil(seconds / 60) * 60)


async def fetch_series(
    ctx: StepContext,
    queries: Sequence[MetricQuery],
    *,
    start: datetime,
    end: datetime,
    period_s: int,
) -> dict[str, Series]:
    """Each query's datapoints between ``start`` and ``end``, oldest first, keyed by its key."""
    if not queries:
        return {}
    request = [
        {
            "Id": f"m{index}",
            "Label": query.label or query.metric,
            "MetricStat": {
                "Metric": {
                    "Namespace": query.namespace,
                    "MetricName": query.metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in query.dimensions.items()],
                },
                "Period": period_s,
                "Stat": query.stat,
            },
        }
        for index, query in enumerate(queries)
    ]
    pages = await ctx.paginate(
        "cloudwatch",
        "get_metric_data",
        max_pages=5,
        MetricDataQueries=request,
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )
    points: dict[str, list[tuple[datetime, float]]] = {f"m{i}": [] for i in range(len(queries))}
    for page in pages:
        for result in page.get("MetricDataResults", []):
            pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
            points.setdefault(result["Id"], []).extend(
                (ts, float(v)) for ts, v in pairs if v is not None
            )
    series: dict[str, Series] = {}
    for index, query in enumerate(queries):
        ordered = sorted(points[f"m{index}"])
        series[query.key] = Series(
            label=query.label or query.metric,
            timestamps=tuple(ts for ts, _ in ordered),
            values=tuple(v for _, v in ordered),
            unit=query.unit,
        )
    return series


def latest(series: Series) -> float | None:
    """The newest value, or None when the series is empty."""
    return series.values[-1] if series.values else None


def peak(series: Series) -> float | None:
    """The largest value, or None when the series is empty."""
    return max(series.values) if series.values else None
