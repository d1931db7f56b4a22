from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from bot.errors import StepError
from bot.results import Status
from bot.steps.autoscaling import group
from tests.steps.stepctx import alarm_on, context, run
from tests.support.aws_hooks import fake_operation, load_fixture

# The failed Spot launch in the AWS CLI example happened at 2021-01-13T20:47:30Z.
NOW = datetime(2021, 1, 13, 21, 0, tzinfo=UTC)


def make_group(session: boto3.Session, name: str = "web-asg", desired: int = 3) -> list[str]:
    ec2 = session.client("ec2")
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )
    autoscaling = session.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt"},
        MinSize=1,
        MaxSize=5,
        DesiredCapacity=desired,
        AvailabilityZones=["us-east-1a"],
    )
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return [i["InstanceId"] for i in groups["AutoScalingGroups"][0]["Instances"]]


def activities(*fixtures: str) -> dict[str, Any]:
    found = [a for name in fixtures for a in load_fixture(name)["Activities"]]
    return {"Activities": found}


async def test_healthy_group_with_a_recent_successful_launch(session: boto3.Session) -> None:
    make_group(session, desired=2)
    recent = load_fixture(
        "aws_responses/autoscaling-describe-scaling-activities-cli-example-1.json"
    )
    recent["Activities"][0]["StartTime"] = "2021-01-13T20:30:09.766Z"
    fake_operation(session, "autoscaling", "DescribeScalingActivities", recent)

    out = await run(group, context(session, now=NOW), group="web-asg")

    assert out.status is Status.OK
    assert out.summary.startswith("`web-asg`: 2 in service (min 1, desired 2, max 5).")
    assert "1 scaling activities in the last 6h, none failed" in out.summary
    assert out.data["in_service"] == 2
    assert out.data["unhealthy"] == 0
    assert out.tables[1].rows[0][1] == "Successful"


async def test_unhealthy_instance_and_failed_spot_launch(session: boto3.Session) -> None:
    ids = make_group(session)
    session.client("autoscaling").set_instance_health(InstanceId=ids[0], HealthStatus="Unhealthy")
    fake_operation(
        session,
        "autoscaling",
        "DescribeScalingActivities",
        activities(
            "aws_responses/autoscaling-describe-scaling-activities-cli-example-2.json",
            # 2020: outside the lookback
            "aws_responses/autoscaling-describe-scaling-activities-cli-example-1.json",
        ),
    )

    out = await run(group, context(session, now=NOW), group="web-asg")

    assert out.status is Status.WARN
    assert "1 unhealthy, 1 failed scaling activity" in out.summary
    assert out.findings[0].text == (
        "Scaling activity failed at 2021-01-13 20:47 UTC: Your Spot request price of 0.001 is "
        "lower than the minimum required Spot request fulfillment price of 0.0031. "
        "Launching EC2 instance failed."
    )
    assert any(ids[0] in f.text and "Unhealthy" in f.text for f in out.findings)
    assert out.data["failed_activities"] == 1
    assert len(out.data["activities"]) == 1  # the 2020 launch is outside the 6h lookback
    assert out.data["not_in_service"] == [
        {"instance_id": ids[0], "health": "Unhealthy", "state": "InService"}
    ]


async def test_group_defaults_to_the_alarm_dimension(session: boto3.Session) -> None:
    make_group(session, name="api-asg", desired=1)
    alarm = alarm_on("AWS/EC2", AutoScalingGroupName="api-asg")

    out = await run(group, context(session, alarm=alarm))

    assert out.data["name"] == "api-asg"
    assert "No scaling activity in the last 6h" in out.summary


async def test_group_by_its_arn_reads_as_its_name(session: boto3.Session) -> None:
    make_group(session, name="api-asg", desired=1)
    arn = session.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"][0][
        "AutoScalingGroupARN"
    ]

    out = await run(group, context(session), group=arn)

    assert out.data["name"] == "api-asg"
    assert out.summary.startswith("`api-asg`: 1 in service")


async def test_unknown_group_names_what_was_looked_for(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="no Auto Scaling group `nope` in us-east-1"):
        await run(group, context(session), group="nope")


async def test_no_group_and_no_alarm_says_how_to_give_one(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="set `group`"):
        await run(group, context(session))
