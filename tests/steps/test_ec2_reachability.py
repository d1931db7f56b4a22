from __future__ import annotations

from dataclasses import dataclass

import boto3
import pytest
from pydantic import ValidationError

from bot.errors import StepError
from bot.results import Status, StepOutput
from bot.steps.ec2 import reachability
from tests.steps.stepctx import DENIED, alarm_on, context, run
from tests.support.aws_hooks import AwsFault, fake_operation


@dataclass(frozen=True)
class Network:
    ec2: object
    vpc: str
    subnet: str
    group: str
    acl: str
    route_table: str
    igw: str
    instance: str


def build(session: boto3.Session, *, public_ip: bool = True) -> Network:
    """A public subnet done right: IGW route, SSH open in the SG, a NACL allowing SSH + replies."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    if public_ip:
        ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    group = ec2.create_security_group(GroupName="bastion", Description="ssh", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh from anywhere"}],
            }
        ],
    )
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    for number, egress, ports in ((100, False, (22, 22)), (100, True, (1024, 65535))):
        ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=number,
            Protocol="6",
            RuleAction="allow",
            Egress=egress,
            CidrBlock="0.0.0.0/0",
            PortRange={"From": ports[0], "To": ports[1]},
        )
    current = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}]
    )["NetworkAcls"][0]
    association = next(
        a["NetworkAclAssociationId"] for a in current["Associations"] if a["SubnetId"] == subnet
    )
    ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl)
    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        SecurityGroupIds=[group],
    )["Instances"][0]["InstanceId"]
    return Network(ec2, vpc, subnet, group, acl, table, igw, instance)


def failed(out: StepOutput) -> dict[str, str]:
    return {c["check"]: c["reason"] for c in out.data["checks"] if not c["ok"]}


async def test_a_correct_public_subnet_is_reachable(session: boto3.Session) -> None:
    net = build(session)

    out = await run(reachability, context(session), instance_id=net.instance)

    assert out.status is Status.OK, out.summary
    assert out.data["reachable"] is True
    assert (
        out.summary
        == f"tcp 22 on {net.instance} from 0.0.0.0/0 should get through: all 6 checks pass."
    )
    texts = [f.text for f in out.findings]
    assert texts[2] == (
        f"✓ security group inbound: {net.group} (bastion) allows tcp 22 from 0.0.0.0/0 "
        "“ssh from anywhere”."
    )
    route = f"{net.route_table} routes 0.0.0.0/0 → {net.igw} (internet gateway)."
    assert texts[5] == f"✓ route to the source: {route}"


async def test_stopped_instance_fails_the_first_check(session: boto3.Session) -> None:
    net = build(session)
    session.client("ec2").stop_instances(InstanceIds=[net.instance])

    out = await run(reachability, context(session), instance_id=net.instance)

    assert out.status is Status.WARN
    assert out.data["reachable"] is False
    assert failed(out)["instance running"] == f"{net.instance} is stopped."
    assert out.summary == (
        f"tcp 22 on {net.instance} from 0.0.0.0/0 looks blocked: {net.instance} is stopped. "
        "Also failing: public IP."
    )
    assert "has no auto-assigned public IP until it starts" in failed(out)["public IP"]


async def test_no_public_ip_is_named(session: boto3.Session) -> None:
    net = build(session, public_ip=False)

    out = await run(reachability, context(session), instance_id=net.instance)

    assert list(failed(out)) == ["public IP"]
    assert "No public IP" in out.summary


async def test_private_source_needs_no_public_ip_or_igw(session: boto3.Session) -> None:
    net = build(session, public_ip=False)

    out = await run(
        reachability, context(session), instance_id=net.instance, source_cidr="10.0.9.0/24"
    )

    assert out.data["reachable"] is True, out.summary


async def test_security_group_without_the_port_says_none_does(session: boto3.Session) -> None:
    net = build(session)

    out = await run(reachability, context(session), instance_id=net.instance, port=3389)

    assert failed(out)["security group inbound"] == (
        f"No inbound rule in {net.group} allows tcp 3389 from 0.0.0.0/0."
    )
    # The NACL only admits 22 as well: the checklist names both hops.
    assert "blocks tcp 3389" in failed(out)["network ACL inbound"]


async def test_security_group_open_only_to_an_office_range(session: boto3.Session) -> None:
    net = build(session)
    ec2 = session.client("ec2")
    ec2.revoke_security_group_ingress(
        GroupId=net.group, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    ec2.authorize_security_group_ingress(
        GroupId=net.group, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="198.51.100.0/24"
    )

    from_anywhere = await run(reachability, context(session), instance_id=net.instance)
    from_office = await run(
        reachability, context(session), instance_id=net.instance, source_cidr="198.51.100.7/32"
    )

    assert "closest: " in failed(from_anywhere)["security group inbound"]
    assert "198.51.100.0/24 only" in failed(from_anywhere)["security group inbound"]
    assert from_office.data["reachable"] is True


async def test_nacl_deny_rule_before_the_allow_wins(session: boto3.Session) -> None:
    net = build(session)
    net.ec2.create_network_acl_entry(  # type: ignore[attr-defined]
        NetworkAclId=net.acl,
        RuleNumber=50,
        Protocol="6",
        RuleAction="deny",
        Egress=False,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 22, "To": 22},
    )

    out = await run(reachability, context(session), instance_id=net.instance)

    assert failed(out) == {
        "network ACL inbound": f"{net.acl} rule 50 (deny 0.0.0.0/0) blocks tcp 22 from 0.0.0.0/0."
    }


async def test_nacl_without_ephemeral_outbound_blocks_replies(session: boto3.Session) -> None:
    net = build(session)
    net.ec2.delete_network_acl_entry(NetworkAclId=net.acl, RuleNumber=100, Egress=True)  # type: ignore[attr-defined]
    net.ec2.create_network_acl_entry(  # type: ignore[attr-defined]
        NetworkAclId=net.acl,
        RuleNumber=100,
        Protocol="6",
        RuleAction="allow",
        Egress=True,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 443, "To": 443},
    )

    out = await run(reachability, context(session), instance_id=net.instance)

    assert failed(out) == {
        "network ACL outbound (replies)": (
            f"{net.acl} blocks replies to 0.0.0.0/0 on ephemeral ports: "
            "1024-65535 by the implicit rule *."
        )
    }


async def test_nacl_allowing_only_high_ephemeral_ports_passes_with_a_note(
    session: boto3.Session,
) -> None:
    net = build(session)
    net.ec2.create_network_acl_entry(  # type: ignore[attr-defined]
        NetworkAclId=net.acl,
        RuleNumber=90,
        Protocol="6",
        RuleAction="deny",
        Egress=True,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 1024, "To": 32767},
    )

    out = await run(reachability, context(session), instance_id=net.instance)

    check = next(c for c in out.data["checks"] if c["check"].startswith("network ACL outbound"))
    assert check["ok"] is True
    assert "1024-32767 by rule 90 (deny 0.0.0.0/0)" in check["reason"]


async def test_subnet_without_igw_route_falls_back_to_the_main_table(
    session: boto3.Session,
) -> None:
    net = build(session)
    ec2 = session.client("ec2")
    table = ec2.describe_route_tables(RouteTableIds=[net.route_table])["RouteTables"][0]
    association = next(a for a in table["Associations"] if a.get("SubnetId") == net.subnet)
    ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])

    out = await run(reachability, context(session), instance_id=net.instance)

    reason = failed(out)["route to the source"]
    assert "has no route covering 0.0.0.0/0" in reason
    assert net.route_table not in reason  # the VPC's main table, which only has `local`


async def test_blackhole_or_nat_route_is_not_an_internet_route(session: boto3.Session) -> None:
    net = build(session)
    ec2 = session.client("ec2")
    ec2.delete_route(RouteTableId=net.route_table, DestinationCidrBlock="0.0.0.0/0")
    ec2.create_route(
        RouteTableId=net.route_table,
        DestinationCidrBlock="0.0.0.0/0",
        NetworkInterfaceId=ec2.describe_instances(InstanceIds=[net.instance])["Reservations"][0][
            "Instances"
        ][0]["NetworkInterfaces"][0]["NetworkInterfaceId"],
    )

    out = await run(reachability, context(session), instance_id=net.instance)

    assert "not an internet gateway: the subnet is private" in failed(out)["route to the source"]


async def test_instance_defaults_to_the_alarm_dimension(session: boto3.Session) -> None:
    net = build(session)
    alarm = alarm_on("AWS/EC2", InstanceId=net.instance)

    out = await run(reachability, context(session, alarm=alarm))

    assert out.data["reachable"] is True


async def test_unknown_instance_is_a_step_error(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="i-0123456789abcdef0"):
        await run(reachability, context(session), instance_id="i-0123456789abcdef0")


def test_source_must_be_an_ipv4_cidr() -> None:
    with pytest.raises(ValidationError, match="not an IPv4 CIDR"):
        reachability.params.model_validate({"instance_id": "i-1", "source_cidr": "office"})


async def test_access_denied_names_the_action_and_principal(session: boto3.Session) -> None:
    net = build(session)
    action = "ec2:DescribeNetworkAcls"
    fake_operation(
        session,
        "ec2",
        "DescribeNetworkAcls",
        AwsFault("UnauthorizedOperation", DENIED.format(action=action), 403),
    )
    with pytest.raises(StepError) as raised:
        await run(reachability, context(session), instance_id=net.instance)
    assert "arn:aws:sts::123456789012:assumed-role/triage/bot" in raised.value.user_message
    assert f"`{action}`" in raised.value.user_message
