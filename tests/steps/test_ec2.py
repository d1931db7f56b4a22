from __future__ import annotations

import boto3
import pytest
from pydantic import ValidationError

from bot.errors import StepError
from bot.results import Severity, Status
from bot.steps.ec2 import instance_status
from tests.steps.stepctx import alarm_on, context, run
from tests.support.aws_hooks import fake_operation


def launch(session: boto3.Session, count: int, service: str = "checkout") -> list[str]:
    found = session.client("ec2").run_instances(
        ImageId="ami-12c6146b",
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.small",
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Service", "Value": service}]}
        ],
    )
    return [i["InstanceId"] for i in found["Instances"]]


async def test_running_instances_by_tag_are_ok(session: boto3.Session) -> None:
    ids = launch(session, 2)
    launch(session, 1, service="search")

    out = await run(instance_status, context(session), tags={"Service": "checkout"})

    assert out.status is Status.OK
    assert out.summary == "2 of 2 instances running, all status checks ok."
    assert sorted(row[0] for row in out.tables[0].rows) == sorted(ids)
    assert {row[2:4] for row in out.tables[0].rows} == {("ok", "ok")}


async def test_stopped_instance_is_flagged(session: boto3.Session) -> None:
    ids = launch(session, 2)
    session.client("ec2").stop_instances(InstanceIds=[ids[1]])

    out = await run(instance_status, context(session), instance_ids=ids)

    assert out.status is Status.WARN
    assert out.summary == f"1 of 2 instances running; 1 needs attention: {ids[1]} is stopped."
    assert out.data["needing_attention"] == 1


async def test_impaired_checks_and_scheduled_retirement(session: boto3.Session) -> None:
    # moto cannot impair an instance: answer DescribeInstanceStatus like EC2 does for a dying host.
    fake_operation(
        session,
        "ec2",
        "DescribeInstanceStatus",
        {
            "InstanceStatuses": [
                {
                    "InstanceId": "i-1234567890abcdef0",
                    "AvailabilityZone": "us-east-1a",
                    "InstanceState": {"Code": 16, "Name": "running"},
                    "SystemStatus": {
                        "Status": "impaired",
                        "Details": [
                            {
                                "Name": "reachability",
                                "Status": "failed",
                                "ImpairedSince": "2024-05-01T10:02:00Z",
                            }
                        ],
                    },
                    "InstanceStatus": {
                        "Status": "ok",
                        "Details": [{"Name": "reachability", "Status": "passed"}],
                    },
                    "Events": [
                        {
                            "InstanceEventId": "instance-event-0d59937288b749b32",
                            "Code": "instance-retirement",
                            "Description": "The instance is running on degraded hardware",
                            "NotBefore": "2024-05-08T00:00:00Z",
                        },
                        {
                            "InstanceEventId": "instance-event-0d59937288b749b33",
                            "Code": "system-reboot",
                            "Description": "[Completed] Scheduled reboot",
                            "NotBefore": "2024-04-01T00:00:00Z",
                        },
                    ],
                }
            ]
        },
    )

    out = await run(instance_status, context(session), instance_ids=["i-1234567890abcdef0"])

    assert out.status is Status.WARN
    assert out.findings[0].severity is Severity.CRITICAL
    assert out.findings[0].text.startswith(
        "i-1234567890abcdef0: system status check impaired (reachability). AWS hardware"
    )
    assert out.findings[1].text == (
        "i-1234567890abcdef0: instance-retirement scheduled from 2024-05-08 00:00 UTC: "
        "The instance is running on degraded hardware"
    )
    assert len(out.findings) == 2  # the completed reboot is history
    assert out.tables[0].rows == (
        ("i-1234567890abcdef0", "running", "impaired", "ok", "instance-retirement"),
    )


async def test_instance_defaults_to_the_alarm_dimension(session: boto3.Session) -> None:
    ids = launch(session, 1)

    out = await run(instance_status, context(session, alarm=alarm_on("AWS/EC2", InstanceId=ids[0])))

    assert out.data["instances"][0]["instance_id"] == ids[0]


async def test_tag_matching_nothing_names_the_tag(session: boto3.Session) -> None:
    launch(session, 1)
    with pytest.raises(StepError, match="No EC2 instances tagged Service=billing in us-east-1"):
        await run(instance_status, context(session), tags={"Service": "billing"})


async def test_unknown_instance_id_is_a_step_error(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="i-0000000000000dead"):
        await run(instance_status, context(session), instance_ids=["i-0000000000000dead"])


def test_ids_and_tags_together_are_rejected() -> None:
    with pytest.raises(ValidationError, match="either instance_ids or tags"):
        instance_status.params.model_validate({"instance_ids": ["i-1"], "tags": {"a": "b"}})
