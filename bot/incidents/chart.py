"""The chart in an incident's thread: the alarm's own metric over the last 3 hours, with its
threshold drawn in, so the thread shows at a glance what the alarm saw.

Data comes from CloudWatch GetMetricData (``bot.metric_data``); drawing uses matplotlib's Agg
canvas on a ``Figure`` of its own (never pyplot's global state).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.alarms.model import Alarm
from bot.aws import AwsClients
from bot.metric_data import MetricQuery, get_metric_data

LOOKBACK = timedelta(hours=3)
DEFAULT_PERIOD_S = 60


@dataclass(frozen=True)
class MetricPoints:
    """One statistic of the alarm's metric, oldest first."""

    label: str
    timestamps: tuple[datetime, ...]
    values: tuple[float, ...]


def has_single_metric(alarm: Alarm) -> bool:
    """Whether the alarm watches one metric (not metric math, an anomaly band or a composite)."""
    return bool(alarm.namespace and alarm.metric_name)


async def fetch_alarm_metric(
    aws: AwsClients, alarm: Alarm, now: datetime, lookback: timedelta = LOOKBACK
) -> MetricPoints | None:
    """The alarm's metric over ``lookback`` up to ``now``; None when it has no single metric or
    no datapoints. AWS errors propagate (the caller logs and goes on without a chart)."""
    if not has_single_metric(alarm):
        return None
    statistic = alarm.statistic or "Average"
    query = MetricQuery(
        key="alarm",
        namespace=alarm.namespace,
        metric=alarm.metric_name,
        dimensions=alarm.dimensions,
        stat=statistic,
    )
    answer = await get_metric_data(
        aws,
        aws.target(alarm.region or None),
        [query],
        start=now - lookback,
        end=now,
        period_s=alarm.period_s or DEFAULT_PERIOD_S,
    )
    points = answer[query.key]
    if not points:
        return None
    return MetricPoints(
        label=f"{alarm.metric_name} ({statistic})",
        timestamps=tuple(ts for ts, _ in points),
        values=tuple(value for _, value in points),
    )


def alarm_chart_png(alarm: Alarm, points: MetricPoints) -> bytes:
    """A PNG line chart of ``points`` with the alarm's threshold as a dashed red line."""
    # matplotlib takes about a second to import: only when a chart is drawn.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter, date2num
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    times = [float(date2num(ts)) for ts in points.timestamps]  # type: ignore[no-untyped-call]
    axes.plot(times, points.values, marker=".", linewidth=1.5, label=points.label)
    if alarm.threshold is not None:
        axes.axhline(
            alarm.threshold,
            color="#d62728",
            linestyle="--",
            linewidth=1.2,
            label=f"threshold {alarm.threshold:g}",
        )
    if alarm.changed_at is not None and points.timestamps[0] <= alarm.changed_at:
        changed = float(date2num(alarm.changed_at))  # type: ignore[no-untyped-call]
        axes.axvline(changed, color="#999999", linestyle=":", linewidth=1)
    axes.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    axes.set_xlabel("UTC")
    axes.set_title(f"{alarm.name}: {alarm.namespace} {alarm.metric_name}, last 3h", fontsize=10)
    axes.grid(alpha=0.3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.legend(loc="best", fontsize=8, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def chart_filename(alarm: Alarm) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in alarm.name)[:80]
    return f"{safe or 'alarm'}-last-3h.png"
