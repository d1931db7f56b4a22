"""Metrics for steps: a few metrics of one resource, as chartable series (``bot.metric_data``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.metric_data import MetricQuery, get_metric_data
from bot.results import Series
from bot.steps.base import StepContext

MAX_POINTS = 360  # per series: enough for a chart, small enough for one request


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
    """Each query's datapoints between ``start`` and ``end`` as a series, keyed by its key."""
    points = await get_metric_data(
        ctx.aws, ctx.target, queries, start=start, end=end, period_s=period_s, stats=ctx.stats
    )
    return {
        query.key: Series(
            label=query.label or query.metric,
            timestamps=tuple(ts for ts, _ in points[query.key]),
            values=tuple(value for _, value in points[query.key]),
            unit=query.unit,
        )
        for query in queries
    }


def latest(series: Series) -> float | None:
    """The newest value, or None when the series is empty."""
    return series.values[-1] if series.values else None


def peak(series: Series) -> float | None:
    """The largest value, or None when the series is empty."""
    return max(series.values) if series.values else None
