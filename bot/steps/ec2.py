"""EC2: instance status checks and scheduled events, and the "can't connect" checklist."""

from __future__ import annotations

import asyncio
from datetime import UTC
from ipaddress import IPv4Network
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from bot.errors import StepError
from bot.results import Finding, Severity, Status, StepOutput, Symptom, Table
from bot.steps.base import StepContext, StepParams, step
from bot.steps.ec2_network import (
    Check,
    inbound_acl_check,
    outbound_acl_check,
    route_check,
    security_group_allows,
)
from bot.steps.support import required

MAX_INSTANCES = 100  # DescribeInstanceStatus takes at most 100 ids per request


class InstanceStatusParams(StepParams):
    """Which instances: explicit ids, or every instance carrying some tags."""

    instance_ids: list[str] = Field(
        default_factory=list,
        description="Instance ids; defaults to the alarm's InstanceId dimension.",
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Instead of ids: every instance with all of these tags, e.g. {Name: web}.",
    )

    @model_validator(mode="after")
    def _one_selector(self) -> InstanceStatusParams:
        if self.instance_ids and self.tags:
            raise ValueError("give either instance_ids or tags, not both")
        return self


@step(
    "ec2.instance_status",
    params=InstanceStatusParams,
    permissions=("ec2:DescribeInstanceStatus", "ec2:DescribeInstances"),
)
async def instance_status(ctx: StepContext, params: InstanceStatusParams) -> StepOutput:
    """State, system and instance status checks, and scheduled events of EC2 instances.

    A failing system check points at AWS hardware (stop/start moves the instance); a failing
    instance check points inside the instance (kernel, disk full, network config). Scheduled
    events (reboot, retirement, maintenance) say when AWS will act. WARN when an instance is not
    running, a check is impaired, or an event is scheduled.

    Example:
        - id: instances
          uses: ec2.instance_status
          with:
            tags: {Service: checkout}
    """
    ids = await _instance_ids(ctx, params)
    pages = await ctx.paginate(
        "ec2", "describe_instance_status", InstanceIds=ids, IncludeAllInstances=True
    )
    statuses = [s for page in pages for s in page.get("InstanceStatuses", [])]
    if not statuses:
        raise StepError(f"No instance status for {', '.join(ids)} in {ctx.target.region}.")
    findings: list[Finding] = []
    symptoms: list[Symptom] = []
    rows = []
    problems = 0
    for status in sorted(statuses, key=lambda s: s["InstanceId"]):
        found, row = _assess(status)
        findings += found
        problems += bool(found)
        rows.append(row)
        symptoms += _symptoms(status)
    count = len(statuses)
    running = sum(1 for s in statuses if s["InstanceState"]["Name"] == "running")
    summary = f"{running} of {count} instance{'s' if count != 1 else ''} running"
    findings.sort(key=lambda f: f.severity != Severity.CRITICAL)
    if problems:
        summary += f"; {problems} need{'s' if problems == 1 else ''} attention: {findings[0].text}"
    else:
        summary += ", all status checks ok."
    return StepOutput(
        summary=summary,
        status=Status.WARN if problems else Status.OK,
        findings=tuple(findings),
        tables=(
            Table(
                title="Instance status",
                columns=("instance", "state", "system check", "instance check", "events"),
                rows=tuple(rows),
            ),
        ),
        data={
            "count": count,
            "running": running,
            "needing_attention": problems,
            "instances": [
                {
                    "instance_id": r[0],
                    "state": r[1],
                    "system": r[2],
                    "instance": r[3],
                    "events": r[4],
                }
                for r in rows
            ],
        },
        evidence=tuple(symptoms),
    )


def _symptoms(status: dict[str, Any]) -> list[Symptom]:
    """A stopped instance or a failing status check, since when AWS says it is impaired."""
    instance_id = status["InstanceId"]
    state = status["InstanceState"]["Name"]
    found = []
    if state != "running":
        found.append(Symptom(f"instance {instance_id} is {state}", (instance_id,), service="EC2"))
    for label in ("System", "Instance"):
        check = status.get(f"{label}Status", {})
        if check.get("Status") != "impaired":
            continue
        since = [d["ImpairedSince"] for d in check.get("Details", []) if d.get("ImpairedSince")]
        found.append(
            Symptom(
                f"instance {instance_id} fails its {label.lower()} status check",
                (instance_id,),
                since=min(since) if since else None,
                service="EC2",
            )
        )
    return found


def _assess(status: dict[str, Any]) -> tuple[list[Finding], tuple[str, ...]]:
    """Findings for one instance's status (none when all is well) and its table row."""
    instance_id = status["InstanceId"]
    state = status["InstanceState"]["Name"]
    findings = []
    if state != "running":
        findings.append(Finding(f"{instance_id} is {state}.", Severity.WARNING))
    for label, hint in (
        ("System", "AWS hardware or network: stop and start moves the instance."),
        ("Instance", "Look inside the instance: OS, disk, network config."),
    ):
        check = status.get(f"{label}Status", {})
        if check.get("Status") == "impaired":
            failed = [d["Name"] for d in check.get("Details", []) if d.get("Status") == "failed"]
            detail = f" ({', '.join(failed)})" if failed else ""
            text = f"{instance_id}: {label.lower()} status check impaired{detail}. {hint}"
            findings.append(Finding(text, Severity.CRITICAL))
    events = [e for e in status.get("Events", []) if not _finished(e)]
    for event in events:
        when = event.get("NotBefore")
        start = f" from {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if when else ""
        text = f"{instance_id}: {event['Code']} scheduled{start}: {event.get('Description', '')}"
        findings.append(Finding(text.strip(), Severity.WARNING))
    row = (
        instance_id,
        state,
        status.get("SystemStatus", {}).get("Status", "not-applicable"),
        status.get("InstanceStatus", {}).get("Status", "not-applicable"),
        ", ".join(e["Code"] for e in events),
    )
    return findings, row


def _finished(event: dict[str, Any]) -> bool:
    description = str(event.get("Description", ""))
    return description.startswith(("[Completed]", "[Canceled]"))


async def _instance_ids(ctx: StepContext, params: InstanceStatusParams) -> list[str]:
    if params.tags:
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in params.tags.items()]
        pages = await ctx.paginate("ec2", "describe_instances", Filters=filters)
        ids = [
            i["InstanceId"]
            for p in pages
            for r in p.get("Reservations", [])
            for i in r["Instances"]
        ]
        if not ids:
            wanted = ", ".join(f"{k}={v}" for k, v in params.tags.items())
            raise StepError(f"No EC2 instances tagged {wanted} in {ctx.target.region}.")
        return ids[:MAX_INSTANCES]
    if params.instance_ids:
        return params.instance_ids[:MAX_INSTANCES]
    return [required(None, ctx, "InstanceId", "instance", "instance_ids")]


class ReachabilityParams(StepParams):
    """The connection that fails: to which instance, on which port, from where."""

    instance_id: str | None = Field(
        default=None, description="Instance id; defaults to the alarm's InstanceId dimension."
    )
    port: int = Field(default=22, ge=0, le=65535, description="Destination port (22 = SSH).")
    protocol: Literal["tcp", "udp"] = Field(default="tcp", description="tcp or udp.")
    source_cidr: str = Field(
        default="0.0.0.0/0",
        description="Where the connection comes from, e.g. your IP as 203.0.113.7/32.",
    )

    @field_validator("source_cidr")
    @classmethod
    def _ipv4(cls, value: str) -> str:
        try:
            return str(IPv4Network(value, strict=False))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IPv4 CIDR like 203.0.113.7/32") from exc


@step(
    "ec2.reachability",
    params=ReachabilityParams,
    permissions=(
        "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeRouteTables",
    ),
)
async def reachability(ctx: StepContext, params: ReachabilityParams) -> StepOutput:
    """The "can't SSH to my instance" checklist, for any port: each hop that could drop traffic.

    Checks that the instance is running and has a public IP (for a public source), that a
    security-group inbound rule admits the port from the source, that the subnet's network ACL
    lets the packet in and the replies out (ephemeral ports; rules in number order, first match
    wins), and that the subnet's route table sends the source's traffic to an internet gateway.
    WARN when any check fails; ``data.reachable`` is true only when all pass.

    Example:
        - id: ssh
          uses: ec2.reachability
          with:
            instance_id: "{{ alarm.dimensions.InstanceId }}"
            port: 22
            source_cidr: 203.0.113.7/32
    """
    instance_id = required(params.instance_id, ctx, "InstanceId", "instance", "instance_id")
    source = IPv4Network(params.source_cidr)
    found = await ctx.call("ec2", "describe_instances", InstanceIds=[instance_id])
    instances = [i for r in found.get("Reservations", []) for i in r.get("Instances", [])]
    if not instances:
        raise StepError(f"There is no instance `{instance_id}` in {ctx.target.region}.")
    instance = instances[0]
    checks = [_running(instance), _public_ip(instance, source)]
    group_ids = [g["GroupId"] for g in instance.get("SecurityGroups", [])]
    subnet_id, vpc_id = instance.get("SubnetId"), instance.get("VpcId")
    # The security groups, the subnet's ACL and its route table are independent: ask at once.
    groups, network = await asyncio.gather(
        _security_groups(ctx, group_ids),
        _subnet_network(ctx, subnet_id, vpc_id) if subnet_id and vpc_id else _nothing(),
    )
    ok, reason = security_group_allows(groups, params.protocol, params.port, source)
    checks.append(Check("security group inbound", ok, reason))
    if network is not None:
        acl, table = network
        checks.append(inbound_acl_check(acl, params.protocol, params.port, source))
        checks.append(outbound_acl_check(acl, params.protocol, source))
        checks.append(route_check(table, source))
    else:
        checks.append(Check("subnet", False, "The instance is in no subnet (terminated?)."))
    failed = [c for c in checks if not c.ok]
    target = f"{params.protocol} {params.port} on {instance_id} from {source}"
    if failed:
        summary = f"{target} looks blocked: {failed[0].reason}"
        if len(failed) > 1:
            summary += " Also failing: " + ", ".join(c.name for c in failed[1:]) + "."
    else:
        summary = f"{target} should get through: all {len(checks)} checks pass."
    return StepOutput(
        summary=summary,
        status=Status.WARN if failed else Status.OK,
        findings=tuple(
            Finding(
                f"{'✓' if c.ok else '✗'} {c.name}: {c.reason}",
                Severity.INFO if c.ok else Severity.WARNING,
            )
            for c in checks
        ),
        data={"reachable": not failed, "checks": [c.as_data() for c in checks]},
        evidence=(
            (
                Symptom(
                    f"{params.protocol} {params.port} to {instance_id} is blocked: "
                    f"the {failed[0].name} check fails",
                    tuple(r for r in (instance_id, *group_ids, subnet_id) if r),
                    service="EC2",
                ),
            )
            if failed
            else ()
        ),
    )


def _running(instance: dict[str, Any]) -> Check:
    state = instance["State"]["Name"]
    if state == "running":
        return Check("instance running", True, f"{instance['InstanceId']} is running.")
    return Check("instance running", False, f"{instance['InstanceId']} is {state}.")


def _public_ip(instance: dict[str, Any], source: IPv4Network) -> Check:
    public, private = instance.get("PublicIpAddress"), instance.get("PrivateIpAddress")
    if public:
        return Check("public IP", True, f"Public IP {public} (private {private}).")
    if source.is_private:
        return Check("public IP", True, f"No public IP, not needed from {source}: use {private}.")
    reason = f"No public IP: only {private}, unreachable from {source}."
    if instance["State"]["Name"] != "running":
        reason += " (A stopped instance has no auto-assigned public IP until it starts.)"
    return Check("public IP", False, reason)


async def _security_groups(ctx: StepContext, group_ids: list[str]) -> list[dict[str, Any]]:
    if not group_ids:
        return []
    answer = await ctx.call("ec2", "describe_security_groups", GroupIds=group_ids)
    groups: list[dict[str, Any]] = answer.get("SecurityGroups", [])
    return groups


async def _subnet_network(
    ctx: StepContext, subnet_id: str, vpc_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The subnet's network ACL and route table, looked up together."""
    acl, table = await asyncio.gather(
        _subnet_acl(ctx, subnet_id, vpc_id), _route_table(ctx, subnet_id, vpc_id)
    )
    return acl, table


async def _nothing() -> None:
    return None


async def _subnet_acl(ctx: StepContext, subnet_id: str, vpc_id: str) -> dict[str, Any]:
    answer = await ctx.call(
        "ec2",
        "describe_network_acls",
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}],
    )
    acls = answer.get("NetworkAcls", [])
    if not acls:  # every subnet has one; fall back to the VPC's default
        answer = await ctx.call(
            "ec2",
            "describe_network_acls",
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "default", "Values": ["true"]},
            ],
        )
        acls = answer.get("NetworkAcls", [])
    if not acls:
        raise StepError(f"No network ACL found for subnet {subnet_id}.")
    acl: dict[str, Any] = acls[0]
    return acl


async def _route_table(ctx: StepContext, subnet_id: str, vpc_id: str) -> dict[str, Any] | None:
    answer = await ctx.call(
        "ec2",
        "describe_route_tables",
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}],
    )
    tables = answer.get("RouteTables", [])
    if not tables:  # no explicit association: the VPC's main route table applies
        answer = await ctx.call(
            "ec2",
            "describe_route_tables",
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "association.main", "Values": ["true"]},
            ],
        )
        tables = answer.get("RouteTables", [])
    table: dict[str, Any] | None = tables[0] if tables else None
    return table


STEPS = (instance_status, reachability)
