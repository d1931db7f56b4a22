"""CloudWatch GetMetricData: the one place its request is built and its answer read.

A ``MetricQuery`` names one statistic of one metric; ``get_metric_data`` answers with each
query's points, oldest first, in UTC. Steps (``bot.steps.metric_data``) and the incident chart
(``bot.incidents.chart``) read metrics through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.aws import AwsClients, CallStats, Target

Points = list[tuple[datetime, float]]
"""(timestamp, value) pairs, oldest first."""


@dataclass(frozen=True)
class MetricQuery:
    """One metric statistic to fetch; ``key`` names it in the answer."""

    key: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    stat: str
    label: str = ""
    unit: str = ""


async def get_metric_data(
    aws: AwsClients,
    target: Target,
    queries: Sequence[MetricQuery],
    *,
    start: datetime,
    end: datetime,
    period_s: int,
    stats: CallStats | None = None,
    max_pages: int = 5,
) -> dict[str, Points]:
    """Each query's datapoints between ``start`` and ``end``, keyed by its key."""
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
            "ReturnData": True,
        }
        for index, query in enumerate(queries)
    ]
    pages = await aws.paginate(
        "cloudwatch",
        "get_metric_data",
        target,
        stats,
        max_pages=max_pages,
        MetricDataQueries=request,
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )
    points: dict[str, Points] = {f"m{index}": [] for index in range(len(queries))}
    for page in pages:
        for result in page.get("MetricDataResults", []):
            pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
            points.setdefault(result["Id"], []).extend(
                (ts.astimezone(UTC), float(value)) for ts, value in pairs if value is not None
            )
    return {query.key: sorted(points[f"m{index}"]) for index, query in enumerate(queries)}
