"""cloudwatch.metric against moto: the alarm's own metric by default, explicit ones, no data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from bot.alarms.model import Alarm, AlarmSource
from bot.errors import StepError
from bot.results import Status
from bot.steps.cloudwatch_metric import metric
from tests.steps.stepctx import context, run

LB = "app/web/50dc6c495c0c9188"


def _put_points(session: boto3.Session, now: datetime, values: list[float]) -> None:
    """One point a minute, the last value the newest."""
    start = now - timedelta(minutes=len(values))
    session.client("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Dimensions": [{"Name": "LoadBalancer", "Value": LB}],
                "Timestamp": start + timedelta(minutes=i, seconds=5),
                "Value": value,
                "Unit": "Count",
            }
            for i, value in enumerate(values)
        ],
    )


ALARM_5XX = Alarm(
    source=AlarmSource.ALARM,
    name="prod-web-5xx",
    state="ALARM",
    namespace="AWS/ApplicationELB",
    metric_name="HTTPCode_Target_5XX_Count",
    statistic="Sum",
    period_s=60,
    threshold=10.0,
    comparison="GreaterThanThreshold",
    dimensions={"LoadBalancer": LB},
)


async def test_metric_defaults_to_the_alarms_metric(session: boto3.Session) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    _put_points(session, now, [0, 2, 1, 0, 15, 40, 3, 25])

    out = await run(metric, context(session, alarm=ALARM_5XX, now=now))

    assert out.status is Status.WARN  # the latest point (25) is still above 10
    assert out.data["points"] == 8
    assert out.data["breaching"] == 3
    assert (out.data["latest"], out.data["min"], out.data["max"]) == (25.0, 0.0, 40.0)
    assert out.data["statistic"] == "Sum"
    assert out.summary.startswith(
        f"AWS/ApplicationELB HTTPCode_Target_5XX_Count (LoadBalancer={LB}) "
        "(Sum, 1m periods, last 3h): latest 25 at "
    )
    assert "3 of 8 points beyond the threshold 10, including the latest." in out.summary
    series = out.series[0]
    assert series.values == (0, 2, 1, 0, 15, 40, 3, 25)
    assert list(series.timestamps) == sorted(series.timestamps)
    assert series.timestamps[-1].tzinfo is not None
    assert series.threshold == 10.0


async def test_metric_explicit_params_and_below_threshold(session: boto3.Session) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    _put_points(session, now, [5, 7, 6])

    out = await run(
        metric,
        context(session, now=now),
        namespace="AWS/ApplicationELB",
        metric_name="HTTPCode_Target_5XX_Count",
        dimensions={"LoadBalancer": LB},
        statistic="Maximum",
        period="5m",
        lookback="1h",
        threshold=100,
    )

    assert out.status is Status.OK
    assert out.data["max"] == 7.0
    assert out.data["period_s"] == 300
    assert "0 of" in out.summary and "points beyond the threshold 100." in out.summary


async def test_metric_with_no_data(session: boto3.Session) -> None:
    out = await run(metric, context(session, alarm=ALARM_5XX))

    assert out.status is Status.OK
    assert out.summary.startswith("No datapoints for AWS/ApplicationELB HTTPCode_Target_5XX_Count")
    assert out.data["points"] == 0
    assert out.series == ()


async def test_metric_needs_a_metric(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="needs `namespace` and `metric_name`"):
        await run(metric, context(session))
    with pytest.raises(StepError, match="whole minutes"):
        await run(metric, context(session), namespace="A", metric_name="B", period="90s")
