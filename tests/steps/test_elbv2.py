"""elbv2.target_health against moto (and faked DescribeTargetHealth for real unhealthy states)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.errors import StepError
from bot.results import Severity, Status, StepOutput
from bot.steps.base import StepContext, Target
from bot.steps.elbv2 import target_health
from tests.support.aws_hooks import fake_operation, load_fixture


@dataclass(frozen=True)
class Seeded:
    lb_arn: str
    tg_arn: str
    admin_tg_arn: str
    instances: tuple[str, ...]

    @property
    def lb_dimension(self) -> str:
        return self.lb_arn.split(":loadbalancer/", 1)[1]  # app/web/<id>

    @property
    def tg_dimension(self) -> str:
        return self.tg_arn.rsplit(":", 1)[1]  # targetgroup/web-tg/<id>


def _seed(session: boto3.Session) -> Seeded:
    """ALB `web`, two target groups: three instances in one (one stopped), one in the other."""
    ec2, elb = session.client("ec2"), session.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=az)["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate(("us-east-1a", "us-east-1b"))
    ]
    lb = elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    tg = elb.create_target_group(Name="web-tg", Protocol="HTTP", Port=80, VpcId=vpc)
    admin = elb.create_target_group(Name="web-admin-tg", Protocol="HTTP", Port=8080, VpcId=vpc)
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    admin_arn = admin["TargetGroups"][0]["TargetGroupArn"]
    instances = tuple(
        i["InstanceId"]
        for i in ec2.run_instances(ImageId="ami-12345678", MinCount=4, MaxCount=4)["Instances"]
    )
    elb.register_targets(
        TargetGroupArn=tg_arn, Targets=[{"Id": i, "Port": 80} for i in instances[:3]]
    )
    elb.register_targets(TargetGroupArn=admin_arn, Targets=[{"Id": instances[3], "Port": 8080}])
    for port, arn in ((80, tg_arn), (8080, admin_arn)):
        elb.create_listener(
            LoadBalancerArn=lb,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}],
        )
    ec2.stop_instances(InstanceIds=[instances[1]])
    return Seeded(lb, tg_arn, admin_arn, instances)


def _ctx(session: boto3.Session, alarm: Alarm | None = None) -> StepContext:
    aws = AwsClients(AwsSettings(), session_factory=lambda: session)
    return StepContext(
        aws=aws, target=Target(region="us-east-1"), now=datetime.now(UTC), alarm=alarm
    )


async def _run(session: boto3.Session, alarm: Alarm | None = None, **params: Any) -> StepOutput:
    return await target_health.run(
        _ctx(session, alarm), target_health.params.model_validate(params)
    )


@pytest.mark.parametrize("form", ["name", "arn", "dimension"])
async def test_every_target_group_of_a_load_balancer(session: boto3.Session, form: str) -> None:
    seeded = _seed(session)
    given = {"name": "web", "arn": seeded.lb_arn, "dimension": seeded.lb_dimension}[form]

    out = await _run(session, load_balancer=given)

    assert out.data["total"] == 4
    assert out.data["healthy"] == 3
    assert out.data["unhealthy"] == 1
    assert out.data["by_state"] == {"healthy": 3, "unused": 1}
    stopped = out.data["targets"][0]
    assert stopped["id"] == seeded.instances[1]
    assert stopped["target_group"] == "web-tg"
    assert stopped["port"] == "80"
    assert stopped["reason"] == "Target.InvalidState"
    # A stopped instance is "unused", not failing health checks: worth listing, not a warning.
    assert out.status is Status.OK
    assert out.summary == (
        "3 of 4 targets healthy in 2 target groups of load balancer `web`; "
        "1 unused (most common reason: Target.InvalidState)."
    )
    assert out.findings[0].text == (
        f"{seeded.instances[1]}:80 in web-tg is unused "
        "(Target.InvalidState: Target is in the stopped state)"
    )
    assert out.tables[0].rows == (
        (
            "web-tg",
            seeded.instances[1],
            "80",
            "unused",
            "Target.InvalidState",
            "Target is in the stopped state",
        ),
    )


@pytest.mark.parametrize("form", ["name", "arn"])
async def test_one_target_group(session: boto3.Session, form: str) -> None:
    seeded = _seed(session)
    given = {"name": "web-admin-tg", "arn": seeded.admin_tg_arn}[form]

    out = await _run(session, target_group=given)

    assert out.status is Status.OK
    assert out.summary == "1 of 1 targets healthy in target group `web-admin-tg`."
    assert out.data["targets"] == []
    assert out.tables == ()


async def test_defaults_to_the_alarms_target_group_dimension(session: boto3.Session) -> None:
    seeded = _seed(session)
    alarm = Alarm(
        source=AlarmSource.ALARM,
        name="prod-web-5xx",
        dimensions={"LoadBalancer": seeded.lb_dimension, "TargetGroup": seeded.tg_dimension},
    )

    out = await _run(session, alarm=alarm)

    assert out.data["total"] == 3
    assert "target group `web-tg`" in out.summary


async def test_unhealthy_targets_with_reasons_are_a_warning(session: boto3.Session) -> None:
    _seed(session)
    timeout = load_fixture("aws_responses/elbv2-describe-target-health-cli-example-5.json")
    initial = load_fixture("aws_responses/elbv2-describe-target-health-cli-example-4.json")
    healthy = load_fixture("aws_responses/elbv2-describe-target-health-cli-example-1.json")

    descriptions = [
        *healthy["TargetHealthDescriptions"],
        *initial["TargetHealthDescriptions"],
        *timeout["TargetHealthDescriptions"],
    ]
    fake_operation(
        session, "elbv2", "DescribeTargetHealth", {"TargetHealthDescriptions": descriptions}
    )

    out = await _run(session, target_group="web-tg")

    assert out.status is Status.WARN
    assert out.data["by_state"] == {"healthy": 2, "unhealthy": 1, "initial": 1}
    assert out.data["unhealthy"] == 2
    assert out.summary == (
        "2 of 4 targets healthy in target group `web-tg`; "
        "1 unhealthy, 1 initial (most common reason: Target.Timeout)."
    )
    # The failing one comes first and is a warning; the registering one is information.
    first, second = out.findings
    assert first.severity is Severity.WARNING
    assert first.text == (
        "i-0f76fade:80 in web-tg is unhealthy (Target.Timeout: Connection to target timed out)"
    )
    assert second.severity is Severity.INFO
    assert "Elb.RegistrationInProgress" in second.text


async def test_load_balancer_without_target_groups(session: boto3.Session) -> None:
    ec2, elb = session.client("ec2"), session.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=az)["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate(("us-east-1a", "us-east-1b"))
    ]
    elb.create_load_balancer(Name="empty", Subnets=subnets)

    out = await _run(session, load_balancer="empty")

    assert out.status is Status.WARN
    assert out.data["total"] == 0
    assert "has no target groups" in out.summary


async def test_empty_target_group(session: boto3.Session) -> None:
    ec2, elb = session.client("ec2"), session.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    elb.create_target_group(Name="lonely", Protocol="HTTP", Port=80, VpcId=vpc)

    out = await _run(session, target_group="lonely")

    assert out.status is Status.WARN
    assert out.summary == "No targets registered in target group `lonely`."
    assert out.findings[0].text == "No targets are registered in the target group `lonely`."


async def test_unknown_load_balancer_and_target_group_are_named(session: boto3.Session) -> None:
    _seed(session)
    with pytest.raises(
        StepError, match="There is no load balancer `app/nope/0123abcd` in us-east-1"
    ):
        await _run(session, load_balancer="app/nope/0123abcd")
    with pytest.raises(StepError, match="There is no target group `nope-tg` in us-east-1"):
        await _run(session, target_group="nope-tg")


async def test_exactly_one_of_load_balancer_or_target_group(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="not both"):
        await _run(session, load_balancer="web", target_group="web-tg")
    with pytest.raises(StepError, match="needs `load_balancer`"):
        await _run(session, load_balancer="")
