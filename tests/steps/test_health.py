"""health.events against faked Health answers (moto has no Health API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3

from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.results import Severity, Status, StepOutput
from bot.steps.base import StepContext, Target
from bot.steps.health import STEPS, health_events
from tests.support.aws_hooks import AwsFault, fake_operation, load_fixture

NOW = datetime(2020, 5, 12, 12, 0, tzinfo=UTC)
OPEN_EC2_ISSUE = {
    "arn": (
        "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/"
        "AWS_EC2_OPERATIONAL_ISSUE_VKTXI_EXAMPLE111"
    ),
    "service": "EC2",
    "eventTypeCode": "AWS_EC2_OPERATIONAL_ISSUE",
    "eventTypeCategory": "issue",
    "region": "us-east-1",
    "startTime": 1589270000.0,
    "lastUpdatedTime": 1589280000.0,
    "statusCode": "open",
    "eventScopeCode": "PUBLIC",
}
UPCOMING_RDS = {
    "arn": "arn:aws:health:us-east-1::event/RDS/AWS_RDS_MAINTENANCE_SCHEDULED/EXAMPLE222",
    "service": "RDS",
    "eventTypeCode": "AWS_RDS_MAINTENANCE_SCHEDULED",
    "eventTypeCategory": "scheduledChange",
    "region": "us-east-1",
    "startTime": 1589500000.0,
    "lastUpdatedTime": 1589200000.0,
    "statusCode": "upcoming",
    "eventScopeCode": "ACCOUNT_SPECIFIC",
}
OTHER_REGION_OPEN = {
    **OPEN_EC2_ISSUE,
    "arn": "arn:aws:health:eu-west-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/EXAMPLE333",
    "region": "eu-west-1",
}


def _ctx(session: boto3.Session, region: str = "us-east-1") -> StepContext:
    aws = AwsClients(AwsSettings(), session_factory=lambda: session)
    return StepContext(aws=aws, target=Target(region=region), now=NOW)


async def _run(session: boto3.Session, region: str = "us-east-1", **params: Any) -> StepOutput:
    return await health_events.run(
        _ctx(session, region), health_events.params.model_validate(params)
    )


def _details(request: dict[str, Any]) -> dict[str, Any]:
    fixture = load_fixture("aws_responses/health-describe-event-details-cli-example-1.json")
    return fixture


async def test_open_issue_in_region_is_a_warning_with_its_latest_description(
    session: boto3.Session,
) -> None:
    documented = load_fixture("aws_responses/health-describe-events-cli-example-1.json")["events"]
    events = [*documented, OPEN_EC2_ISSUE, UPCOMING_RDS, OTHER_REGION_OPEN]
    fake_operation(session, "health", "DescribeEvents", {"events": events})
    fake_operation(session, "health", "DescribeEventDetails", _details)

    out = await _run(session)

    assert out.status is Status.WARN
    assert "1 open AWS issue(s): EC2 AWS_EC2_OPERATIONAL_ISSUE" in out.summary
    # Closed events and other regions are dropped; the three open global notices stay.
    arns = [e["arn"] for e in out.data["events"]]
    assert OTHER_REGION_OPEN["arn"] not in arns
    assert out.data["count"] == 5
    assert out.data["upcoming"] == 1
    regions = {e["region"] for e in out.data["events"]}
    assert regions == {"us-east-1", "global"}
    # Newest first.
    assert out.data["events"][0]["service"] == "RDS"
    assert out.tables[0].rows[0][1] == "RDS"
    # The open regional issue is the most relevant and carries AWS's latest update text.
    first = out.findings[0]
    assert first.severity is Severity.WARNING
    assert first.text.startswith("EC2 AWS_EC2_OPERATIONAL_ISSUE (open since 2020-05-12")
    assert "Increased API Error Rates and Latencies" in first.text
    assert len(out.findings) == 3


async def test_services_filter_and_global_region(session: boto3.Session) -> None:
    documented = load_fixture("aws_responses/health-describe-events-cli-example-1.json")["events"]
    fake_operation(session, "health", "DescribeEvents", {"events": documented})
    fake_operation(session, "health", "DescribeEventDetails", {"successfulSet": []})

    out = await _run(session, region="eu-west-1", services=["billing"])

    assert out.status is Status.OK
    assert [e["event_type"] for e in out.data["events"]] == ["AWS_BILLING_NOTIFICATION"]
    assert "no open AWS service issue" in out.summary


async def test_no_events(session: boto3.Session) -> None:
    closed = load_fixture("aws_responses/health-describe-events-cli-example-2.json")
    fake_operation(session, "health", "DescribeEvents", closed)

    out = await _run(session)

    assert out.status is Status.OK
    assert out.summary == "No open or upcoming AWS Health events for us-east-1 (or global)."
    assert out.data["count"] == 0


async def test_health_is_called_in_us_east_1_whatever_the_target_region(
    session: boto3.Session,
) -> None:
    urls: list[str] = []
    session.events.register(
        "before-call.health.DescribeEvents", lambda params, **_: urls.append(params["url"])
    )
    fake_operation(session, "health", "DescribeEvents", {"events": [OTHER_REGION_OPEN]})
    fake_operation(session, "health", "DescribeEventDetails", _details)

    out = await _run(session, region="eu-west-1")

    assert len(urls) == 1
    assert "us-east-1" in urls[0]
    assert out.data["events"][0]["region"] == "eu-west-1"


async def test_without_a_support_plan_the_step_says_so(session: boto3.Session) -> None:
    fake_operation(
        session,
        "health",
        "DescribeEvents",
        AwsFault("SubscriptionRequiredException", "The AWS account is not subscribed"),
    )

    out = await _run(session)

    assert out.status is Status.OK
    assert out.data["available"] is False
    assert "support plan" in out.summary
    assert "Business, Enterprise On-Ramp or Enterprise support plan" in out.findings[0].text
    assert "Personal Health Dashboard" in out.findings[0].text


def test_declares_its_permissions_and_example() -> None:
    assert (health_events,) == STEPS
    assert health_events.permissions == ("health:DescribeEvents", "health:DescribeEventDetails")
    assert "uses: health.events" in health_events.example


async def test_events_are_shown_even_when_descriptions_are_denied(session: boto3.Session) -> None:
    fake_operation(session, "health", "DescribeEvents", {"events": [OPEN_EC2_ISSUE]})
    fake_operation(
        session,
        "health",
        "DescribeEventDetails",
        AwsFault(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/triage/bot is not authorized to "
            "perform: health:DescribeEventDetails",
        ),
    )

    out = await _run(session)

    assert out.status is Status.WARN
    assert out.data["count"] == 1
    assert out.findings[0].text.startswith("EC2 AWS_EC2_OPERATIONAL_ISSUE (open since")
    assert "health:DescribeEventDetails" in out.findings[-1].text
