from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bot.errors import StepError
from bot.results import Severity, Status
from bot.steps.cloudformation import stack_events, troubled
from tests.steps.stepctx import context, run
from tests.support.aws_hooks import fake_operation

QUEUE = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}}}}


def create_stack(session: boto3.Session, name: str) -> str:
    template = json.loads(json.dumps(QUEUE).replace('"q"', f'"{name}-queue"'))
    answer = session.client("cloudformation").create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )
    stack_id: str = answer["StackId"]
    return stack_id


async def test_recently_created_stacks_are_listed_without_a_name(session: boto3.Session) -> None:
    create_stack(session, "orders")
    create_stack(session, "billing")

    out = await run(stack_events, context(session, now=datetime.now(UTC) + timedelta(seconds=1)))

    assert out.status is Status.OK
    assert out.summary.startswith("2 stacks changed in the last 6h, none failed: ")
    assert {s["name"] for s in out.data["stacks"]} == {"orders", "billing"}
    assert out.data["failed"] == 0
    assert any(row[2] == "CREATE_COMPLETE" for t in out.tables for row in t.rows)


async def test_old_stacks_are_left_out(session: boto3.Session) -> None:
    create_stack(session, "orders")

    later = datetime.now(UTC) + timedelta(days=2)
    out = await run(stack_events, context(session, now=later), lookback="1h")

    assert out.status is Status.OK
    assert out.summary == "No stack was created or updated in the last 1h."
    assert out.data["stacks"] == []


async def test_failed_update_is_flagged_with_its_reason(session: boto3.Session) -> None:
    stack_id = create_stack(session, "orders")
    now = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    # moto cannot fail a resource update: answer like CloudFormation after a rolled-back update.
    fake_operation(
        session,
        "cloudformation",
        "DescribeStacks",
        {
            "Stacks": [
                {
                    "StackId": stack_id,
                    "StackName": "orders",
                    "CreationTime": "2024-04-01T08:00:00Z",
                    "LastUpdatedTime": "2024-05-01T10:12:00Z",
                    "StackStatus": "UPDATE_ROLLBACK_COMPLETE",
                }
            ]
        },
    )

    def event(minute: int, resource: str, kind: str, status: str, reason: str = "") -> Any:
        found: dict[str, Any] = {
            "StackId": stack_id,
            "EventId": f"{resource}-{minute}",
            "StackName": "orders",
            "LogicalResourceId": resource,
            "PhysicalResourceId": resource.lower(),
            "ResourceType": kind,
            "Timestamp": f"2024-05-01T10:{minute:02d}:00Z",
            "ResourceStatus": status,
        }
        if reason:
            found["ResourceStatusReason"] = reason
        return found

    stack = "AWS::CloudFormation::Stack"
    fake_operation(
        session,
        "cloudformation",
        "DescribeStackEvents",
        {
            "StackEvents": [
                event(15, "orders", stack, "UPDATE_ROLLBACK_COMPLETE"),
                event(14, "Queue", "AWS::SQS::Queue", "UPDATE_COMPLETE"),
                event(
                    13,
                    "orders",
                    stack,
                    "UPDATE_ROLLBACK_IN_PROGRESS",
                    "The following resource(s) failed to update: [Queue].",
                ),
                event(
                    13,
                    "Queue",
                    "AWS::SQS::Queue",
                    "UPDATE_FAILED",
                    'Resource handler returned message: "Invalid value for the parameter '
                    'VisibilityTimeout." (HandlerErrorCode: InvalidRequest)',
                ),
                event(12, "orders", stack, "UPDATE_IN_PROGRESS", "User Initiated"),
                event(1, "Queue", "AWS::SQS::Queue", "CREATE_FAILED", "long ago"),
            ]
        },
    )

    out = await run(stack_events, context(session, now=now), stack="orders", lookback="20m")

    assert out.status is Status.WARN
    assert out.findings[0].severity is Severity.CRITICAL
    assert out.findings[0].text == (
        "Queue (AWS::SQS::Queue) in orders: UPDATE_FAILED — Resource handler returned message: "
        '"Invalid value for the parameter VisibilityTimeout." (HandlerErrorCode: InvalidRequest)'
    )
    assert out.findings[1].text == "Stack orders is UPDATE_ROLLBACK_COMPLETE."
    assert out.summary.startswith(
        "1 failed resource and 1 stack rolled back or failed in the last 20m. First: Queue"
    )
    assert out.data["failures"][0]["time"] == "2024-05-01 10:13:00 UTC"
    assert len(out.tables[0].rows) == 5  # the 10:01 event is outside the lookback


def test_troubled_statuses() -> None:
    assert troubled("UPDATE_ROLLBACK_COMPLETE")
    assert troubled("UPDATE_ROLLBACK_FAILED")
    assert troubled("CREATE_FAILED")
    assert troubled("ROLLBACK_COMPLETE")
    assert not troubled("UPDATE_COMPLETE")
    assert not troubled("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")


async def test_unknown_stack_is_a_step_error(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="nope"):
        await run(stack_events, context(session), stack="nope")
