"""cloudwatch.alarms / alarm_history against moto (history faked: moto lacks it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.errors import StepError
from bot.results import Severity, Status, StepOutput
from bot.steps.base import StepContext, StepType, Target
from bot.steps.cloudwatch import alarm_history, alarms
from tests.support.aws_hooks import fake_operation, load_fixture


def _ctx(session: boto3.Session, alarm: Alarm | None, now: datetime | None) -> StepContext:
    aws = AwsClients(AwsSettings(), session_factory=lambda: session)
    return StepContext(
        aws=aws, target=Target(region="us-east-1"), now=now or datetime.now(UTC), alarm=alarm
    )


async def _run(
    step_type: StepType[Any],
    session: boto3.Session,
    *,
    alarm: Alarm | None = None,
    now: datetime | None = None,
    **params: Any,
) -> StepOutput:
    return await step_type.run(_ctx(session, alarm, now), step_type.params.model_validate(params))


# --- cloudwatch.alarms ---------------------------------------------------------------------


def _put_alarm(cw: Any, name: str, metric_name: str, state: str, reason: str) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/ApplicationELB",
        MetricName=metric_name,
        Dimensions=[{"Name": "LoadBalancer", "Value": "app/web/50dc6c495c0c9188"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


async def test_alarms_in_alarm_with_reasons(session: boto3.Session) -> None:
    cw = session.client("cloudwatch")
    reason = "Threshold Crossed: 1 datapoint [42.0 (05/03/24 13:58:00)] was greater than 10.0"
    _put_alarm(cw, "prod-web-5xx", "HTTPCode_Target_5XX_Count", "ALARM", reason)
    _put_alarm(cw, "prod-web-latency", "TargetResponseTime", "ALARM", "Threshold Crossed: slow")
    _put_alarm(cw, "prod-web-4xx", "HTTPCode_Target_4XX_Count", "OK", "fine")
    _put_alarm(cw, "staging-web-5xx", "HTTPCode_Target_5XX_Count", "ALARM", "staging")

    out = await _run(alarms, session, name_prefix="prod-")

    assert out.status is Status.WARN
    assert out.data["count"] == 2
    assert {a["name"] for a in out.data["alarms"]} == {"prod-web-5xx", "prod-web-latency"}
    assert out.summary.startswith("2 alarms are named `prod-*` in ALARM: ")
    assert "`prod-web-5xx`" in out.summary and "4xx" not in out.summary
    five = next(a for a in out.data["alarms"] if a["name"] == "prod-web-5xx")
    assert five["reason"] == reason
    assert five["metric"] == "AWS/ApplicationELB HTTPCode_Target_5XX_Count Sum"
    assert any(reason in f.text for f in out.findings)

    everything = await _run(alarms, session)
    assert everything.data["count"] == 3


async def test_composite_alarms_are_listed(session: boto3.Session) -> None:
    documented = load_fixture("aws_responses/cloudwatch-describe-alarms-cli-example-1.json")
    metric_alarm = {**documented["MetricAlarms"][0], "StateValue": "ALARM"}
    composite = {
        "AlarmName": "prod-web-down",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-web-down",
        "AlarmRule": 'ALARM("myalarm") AND ALARM("prod-web-5xx")',
        "StateValue": "ALARM",
        "StateReason": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:myalarm "
        "transitioned to ALARM at Tuesday 05 March, 2024 13:58:00 UTC",
        "StateUpdatedTimestamp": "2024-03-05T13:58:10.000Z",
    }
    fake_operation(
        session,
        "cloudwatch",
        "DescribeAlarms",
        {"MetricAlarms": [metric_alarm], "CompositeAlarms": [composite]},
    )

    out = await _run(alarms, session)

    assert [a["name"] for a in out.data["alarms"]] == ["prod-web-down", "myalarm"]
    assert out.data["alarms"][0]["type"] == "composite"
    assert out.data["alarms"][0]["metric"] == 'ALARM("myalarm") AND ALARM("prod-web-5xx")'
    assert out.data["alarms"][0]["since"] == "2024-03-05 13:58:10 UTC"


async def test_no_alarms_firing(session: boto3.Session) -> None:
    _put_alarm(session.client("cloudwatch"), "prod-ok", "RequestCount", "OK", "fine")

    out = await _run(alarms, session)

    assert out.status is Status.OK
    assert out.summary == "No CloudWatch alarms are in ALARM."


# --- cloudwatch.alarm_history --------------------------------------------------------------

HISTORY_NOW = datetime(2014, 4, 10, 12, 0, tzinfo=UTC)


async def test_history_of_the_runs_alarm(session: boto3.Session) -> None:
    history = load_fixture("aws_responses/cloudwatch-describe-alarm-history-cli-example-1.json")
    fake_operation(session, "cloudwatch", "DescribeAlarmHistory", history)
    alarm = Alarm(source=AlarmSource.ALARM, name="myalarm", state="ALARM")

    out = await _run(alarm_history, session, alarm=alarm, now=HISTORY_NOW)

    assert out.status is Status.OK
    assert out.summary == (
        "`myalarm` changed state 2 time(s) in the last 1d, 1 into ALARM; "
        "latest: ALARM → OK at 2014-04-09 18:59:06 UTC."
    )
    assert out.data["transitions"][0] == {
        "time": "2014-04-09 18:59:06 UTC",
        "from": "ALARM",
        "to": "OK",
        "reason": "Threshold Crossed: 2 datapoints were not greater than the threshold (70.0). "
        "The most recent datapoints: [38.958, 40.292].",
    }
    assert out.data["transitions"][1]["reason"] == "testing purposes"
    assert out.tables[0].rows[1][1:3] == ("OK", "ALARM")


async def test_flapping_alarm_is_a_warning(session: boto3.Session) -> None:
    def item(minutes_ago: int, old: str, new: str) -> dict[str, Any]:
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old},
            "newState": {"stateValue": new, "stateReason": f"went {new}"},
        }
        return {
            "Timestamp": (HISTORY_NOW - timedelta(minutes=minutes_ago)).isoformat(),
            "HistoryItemType": "StateUpdate",
            "AlarmName": "prod-web-5xx",
            "HistoryData": json.dumps(data),
            "HistorySummary": f"Alarm updated from {old} to {new}",
        }

    items = [item(m, "OK", "ALARM") for m in (10, 30, 50)]
    items += [item(m, "ALARM", "OK") for m in (20, 40)]
    fake_operation(session, "cloudwatch", "DescribeAlarmHistory", {"AlarmHistoryItems": items})

    out = await _run(
        alarm_history, session, now=HISTORY_NOW, alarm_name="prod-web-5xx", lookback="2h"
    )

    assert out.status is Status.WARN
    assert out.data["alarm_count"] == 3
    assert out.summary.endswith("It is flapping.")
    assert "latest: OK → ALARM" in out.summary
    assert out.findings[0].severity is Severity.WARNING
    assert [t["to"] for t in out.data["transitions"]] == ["ALARM", "OK", "ALARM", "OK", "ALARM"]


async def test_history_empty_and_missing_alarm_name(session: boto3.Session) -> None:
    fake_operation(session, "cloudwatch", "DescribeAlarmHistory", {"AlarmHistoryItems": []})

    out = await _run(alarm_history, session, alarm_name="quiet")
    assert out.summary == "`quiet` did not change state in the last 1d."
    assert out.data["count"] == 0

    with pytest.raises(StepError, match="needs `alarm_name`"):
        await _run(alarm_history, session)
