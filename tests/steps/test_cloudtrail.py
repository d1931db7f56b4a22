"""cloudtrail.recent_changes against faked LookupEvents answers (moto has no LookupEvents)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.results import Severity, Status, StepOutput
from bot.steps.base import StepContext, Target
from bot.steps.cloudtrail import recent_changes
from tests.support.aws_hooks import fake_operation, load_fixture

NOW = datetime(2024, 3, 5, 14, 0, tzinfo=UTC)
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/943f017f100becff"
ALARM = Alarm(
    source=AlarmSource.ALARM,
    name="prod-web-5xx",
    state="ALARM",
    region="us-east-1",
    namespace="AWS/ApplicationELB",
    metric_name="HTTPCode_Target_5XX_Count",
    dimensions={
        "LoadBalancer": "app/web/50dc6c495c0c9188",
        "TargetGroup": "targetgroup/web-tg/943f017f100becff",
    },
)


def _event(
    minutes_ago: int,
    name: str,
    arn: str,
    request: dict[str, Any],
    resources: list[dict[str, str]] | None = None,
    error: str = "",
    source: str = "elasticloadbalancing.amazonaws.com",
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": arn, "accountId": "123456789012"},
        "eventTime": (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "requestParameters": request,
        "readOnly": False,
    }
    if error:
        record["errorCode"] = error
        record["errorMessage"] = "You are not authorized to perform this operation."
    return {
        "EventId": f"id-{minutes_ago}-{name}",
        "EventName": name,
        "ReadOnly": "false",
        "EventTime": (NOW - timedelta(minutes=minutes_ago)).timestamp(),
        "EventSource": source,
        "Username": arn.rsplit("/", 1)[-1],
        "Resources": resources or [],
        "CloudTrailEvent": json.dumps(record),
    }


ALICE = "arn:aws:sts::123456789012:assumed-role/Admin/alice"
DEPLOY = "arn:aws:sts::123456789012:assumed-role/deploy/codepipeline-1234"
MODIFY_TG = _event(
    50,
    "ModifyTargetGroup",
    ALICE,
    {"targetGroupArn": TG_ARN, "healthCheckPath": "/healthz"},
    [{"ResourceType": "AWS::ElasticLoadBalancingV2::TargetGroup", "ResourceName": TG_ARN}],
)
UPDATE_SERVICE = _event(
    5,
    "UpdateService",
    DEPLOY,
    {"cluster": "prod", "service": "api", "taskDefinition": "api:42"},
    source="ecs.amazonaws.com",
)
UPDATE_SERVICE_2 = _event(
    15,
    "UpdateService",
    DEPLOY,
    {"cluster": "prod", "service": "api", "taskDefinition": "api:41"},
    source="ecs.amazonaws.com",
)
FAILED_SG = _event(
    20,
    "AuthorizeSecurityGroupIngress",
    ALICE,
    {"groupId": "sg-0123456789abcdef0"},
    [{"ResourceType": "AWS::EC2::SecurityGroup", "ResourceName": "sg-0123456789abcdef0"}],
    error="Client.UnauthorizedOperation",
    source="ec2.amazonaws.com",
)


def _ctx(session: boto3.Session, alarm: Alarm | None = None) -> StepContext:
    aws = AwsClients(AwsSettings(), session_factory=lambda: session)
    return StepContext(aws=aws, target=Target(region="us-east-1"), now=NOW, alarm=alarm)


async def _run(session: boto3.Session, alarm: Alarm | None = None, **params: Any) -> StepOutput:
    return await recent_changes.run(
        _ctx(session, alarm), recent_changes.params.model_validate(params)
    )


async def test_changes_to_the_alarms_resources_come_first(session: boto3.Session) -> None:
    requests: list[dict[str, Any]] = []
    login = load_fixture("aws_responses/cloudtrail-lookup-events-cli-example-1.json")["Events"][0]
    login = {**login, "EventTime": (NOW - timedelta(minutes=30)).isoformat()}

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        requests.append(request)
        if "NextToken" not in request:
            return {"Events": [UPDATE_SERVICE, UPDATE_SERVICE_2, FAILED_SG], "NextToken": "page-2"}
        return {"Events": [login, MODIFY_TG]}

    fake_operation(session, "cloudtrail", "LookupEvents", answer)

    out = await _run(session, alarm=ALARM)

    assert requests[0]["LookupAttributes"] == [
        {"AttributeKey": "ReadOnly", "AttributeValue": "false"}
    ]
    assert requests[0]["StartTime"] == pytest.approx((NOW - timedelta(hours=1)).timestamp())
    assert requests[1]["NextToken"] == "page-2"
    assert out.status is Status.WARN
    assert out.summary == (
        "5 write API calls in the last 1h by 3 principal(s); "
        "1 touch the alarm's resources: Admin/alice ModifyTargetGroup."
    )
    events = out.data["events"]
    assert [e["event"] for e in events] == [
        "ModifyTargetGroup",  # oldest, but it touches the alarm's target group
        "UpdateService",
        "UpdateService",
        "AuthorizeSecurityGroupIngress",
        "ConsoleLogin",
    ]
    assert events[0]["related"] is True and events[1]["related"] is False
    assert events[3]["error"] == "Client.UnauthorizedOperation"
    assert out.data == {**out.data, "count": 5, "related": 1, "failed": 1, "principals": 3}
    assert out.findings[0].severity is Severity.WARNING
    assert out.findings[0].text.startswith(f"Admin/alice called ModifyTargetGroup on {TG_ARN}")
    # Grouped by who and what: the two deploys are one row with two calls.
    rows = out.tables[0].rows
    assert len(rows) == 4
    assert rows[1][1:5] == ("deploy/codepipeline-1234", "UpdateService", "", "2")
    assert rows[2][5] == "1 failed (Client.UnauthorizedOperation)"


async def test_without_an_alarm_nothing_is_flagged_and_newest_come_first(
    session: boto3.Session,
) -> None:
    fake_operation(session, "cloudtrail", "LookupEvents", {"Events": [MODIFY_TG, UPDATE_SERVICE]})

    out = await _run(session, lookback="2h")

    assert out.status is Status.OK
    assert [e["event"] for e in out.data["events"]] == ["UpdateService", "ModifyTargetGroup"]
    assert out.summary.endswith("none touch the alarm's resources.")
    assert "in the last 2h" in out.summary
    assert out.findings == ()


async def test_resource_filter_and_cap(session: boto3.Session) -> None:
    fake_operation(
        session,
        "cloudtrail",
        "LookupEvents",
        {"Events": [UPDATE_SERVICE, UPDATE_SERVICE_2, MODIFY_TG, FAILED_SG]},
    )

    out = await _run(session, resource="api:4", max_events=1)

    assert out.data["count"] == 2
    assert [e["event"] for e in out.data["events"]] == ["UpdateService"]
    assert "mentioning `api:4`" in out.summary


async def test_no_changes(session: boto3.Session) -> None:
    fake_operation(session, "cloudtrail", "LookupEvents", {"Events": []})

    out = await _run(session, alarm=ALARM)

    assert out.status is Status.OK
    assert out.summary == "No write API calls recorded by CloudTrail in the last 1h."
    assert out.data["count"] == 0


def test_bad_lookback_is_a_validation_error() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        recent_changes.params.model_validate({"lookback": "yesterday"})
