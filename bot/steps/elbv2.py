"""Elastic Load Balancing v2: are the load balancer's targets healthy, and if not, why?"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

from pydantic import Field

from bot.errors import StepError
from bot.results import Finding, Severity, Status, StepOutput, Symptom, Table
from bot.steps.base import StepContext, StepParams, step
from bot.steps.lookup import ResourceKind, describe_one

_BAD_STATES = frozenset({"unhealthy", "unavailable"})
_MAX_FINDINGS = 20
_CODES = re.compile(r"codes: \[([^\]]+)\]")
_REASON_WORDS = {
    "Target.Timeout": "by timing out",
    "Target.ResponseCodeMismatch": "with unexpected status codes",
    "Target.FailedHealthChecks": "",
    "Elb.InternalError": "(an ELB internal error)",
}
HEALTH_SERVICE = "ELASTICLOADBALANCING"
# Alarm dimensions name them app/NAME/ID (net/, gwy/) and targetgroup/NAME/ID.
_LOAD_BALANCER = ResourceKind(
    "load balancer",
    "elbv2",
    "describe_load_balancers",
    by_name="Names",
    by_arn="LoadBalancerArns",
    listed="LoadBalancers",
    dimension_path=True,
    missing=frozenset({"LoadBalancerNotFound", "ValidationError"}),
    hint="give its name, its ARN, or app/NAME/ID as in the alarm's LoadBalancer dimension",
)
_TARGET_GROUP = ResourceKind(
    "target group",
    "elbv2",
    "describe_target_groups",
    by_name="Names",
    by_arn="TargetGroupArns",
    listed="TargetGroups",
    dimension_path=True,
    missing=frozenset({"TargetGroupNotFound", "ValidationError"}),
    hint="give its name or its ARN",
)


class TargetHealthParams(StepParams):
    """Which load balancer or target group to check; give exactly one."""

    load_balancer: str | None = Field(
        default=None,
        description="Load balancer name, ARN, or the alarm dimension form app/NAME/ID "
        "(net/NAME/ID). All its target groups are checked.",
    )
    target_group: str | None = Field(
        default=None,
        description="Target group name, ARN, or the alarm dimension form targetgroup/NAME/ID.",
    )


@step(
    "elbv2.target_health",
    params=TargetHealthParams,
    permissions=(
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    ),
)
async def target_health(ctx: StepContext, params: TargetHealthParams) -> StepOutput:
    """Health of every target behind an ALB/NLB (or of one target group), with the reasons.

    Counts targets per state and lists every target that is not healthy (unhealthy,
    unavailable, draining, initial, unused) with the reason AWS gives, e.g.
    ``Target.Timeout`` or ``Target.ResponseCodeMismatch``. Without parameters it uses the
    alarm's ``TargetGroup`` or ``LoadBalancer`` dimension. ``data.targets`` lists the
    targets that are not healthy.

    Example:
        - id: targets
          uses: elbv2.target_health
          with:
            load_balancer: "{{ alarm.dimensions.LoadBalancer }}"
    """
    load_balancer, target_group = _choose(ctx, params)
    if load_balancer:
        lb_name, groups = await _groups_of_load_balancer(ctx, load_balancer)
        scope = f"load balancer `{lb_name}`"
    else:
        groups = [await describe_one(ctx, _TARGET_GROUP, target_group or "")]
        scope = f"target group `{groups[0]['TargetGroupName']}`"
    if not groups:
        return StepOutput(
            summary=f"The {scope} has no target groups: it cannot route to anything.",
            status=Status.WARN,
            data={"total": 0, "healthy": 0, "unhealthy": 0, "by_state": {}, "targets": []},
            evidence=(
                Symptom(
                    f"the {scope} has no target groups",
                    (load_balancer or "",),
                    service=HEALTH_SERVICE,
                ),
            ),
        )

    answers = await asyncio.gather(
        *(
            ctx.call("elbv2", "describe_target_health", TargetGroupArn=g["TargetGroupArn"])
            for g in groups
        )
    )
    targets = [
        _target(group["TargetGroupName"], description)
        for group, answer in zip(groups, answers, strict=True)
        for description in answer.get("TargetHealthDescriptions", [])
    ]
    by_state = dict(Counter(t["state"] for t in targets).most_common())
    healthy = by_state.get("healthy", 0)
    not_healthy = [t for t in targets if t["state"] != "healthy"]
    not_healthy.sort(key=lambda t: (t["state"] not in _BAD_STATES, t["target_group"], t["id"]))
    bad = [t for t in not_healthy if t["state"] in _BAD_STATES]
    return StepOutput(
        summary=_summary(scope, len(groups), len(targets), healthy, not_healthy),
        status=Status.WARN if bad or not targets else Status.OK,
        findings=_findings(not_healthy, empty=not targets, scope=scope),
        tables=(
            (
                Table(
                    columns=("Target group", "Target", "Port", "State", "Reason", "Description"),
                    rows=tuple(
                        (
                            t["target_group"],
                            t["id"],
                            t["port"],
                            t["state"],
                            t["reason"],
                            t["description"],
                        )
                        for t in not_healthy
                    ),
                    title="Targets that are not healthy",
                ),
            )
            if not_healthy
            else ()
        ),
        data={
            "total": len(targets),
            "healthy": healthy,
            "unhealthy": len(not_healthy),
            "by_state": by_state,
            "targets": not_healthy,
        },
        evidence=_symptoms(groups, targets, bad, load_balancer),
    )


def _choose(ctx: StepContext, params: TargetHealthParams) -> tuple[str | None, str | None]:
    """Exactly one of (load balancer, target group), from the params or else the alarm."""
    load_balancer = (params.load_balancer or "").strip() or None
    target_group = (params.target_group or "").strip() or None
    if load_balancer and target_group:
        raise StepError(
            "Give either `load_balancer` or `target_group` to elbv2.target_health, not both."
        )
    if load_balancer or target_group:
        return load_balancer, target_group
    dimensions = ctx.alarm.dimensions if ctx.alarm else {}
    if dimensions.get("TargetGroup"):
        return None, dimensions["TargetGroup"]
    if dimensions.get("LoadBalancer"):
        return dimensions["LoadBalancer"], None
    raise StepError(
        "elbv2.target_health needs `load_balancer` (a name, ARN or app/NAME/ID) or "
        "`target_group` (a name or ARN), and the alarm has no LoadBalancer or TargetGroup "
        "dimension to default to."
    )


async def _groups_of_load_balancer(
    ctx: StepContext, given: str
) -> tuple[str, list[dict[str, Any]]]:
    balancer = await describe_one(ctx, _LOAD_BALANCER, given)
    try:
        pages = await ctx.paginate(
            "elbv2", "describe_target_groups", LoadBalancerArn=balancer["LoadBalancerArn"]
        )
    except StepError as exc:
        if exc.aws_code != "TargetGroupNotFound":  # some endpoints say so for "none attached"
            raise
        pages = []
    return balancer["LoadBalancerName"], [g for p in pages for g in p.get("TargetGroups", [])]


def _target(group: str, description: dict[str, Any]) -> dict[str, str]:
    target = description.get("Target", {})
    health = description.get("TargetHealth", {})
    port = target.get("Port")
    return {
        "target_group": group,
        "id": str(target.get("Id", "")),
        "port": "" if port is None else str(port),
        "az": str(target.get("AvailabilityZone", "")),
        "state": str(health.get("State", "unknown")),
        "reason": str(health.get("Reason", "")),
        "description": str(health.get("Description", "")),
    }


def _symptoms(
    groups: list[dict[str, Any]],
    targets: list[dict[str, str]],
    bad: list[dict[str, str]],
    load_balancer: str | None,
) -> tuple[Symptom, ...]:
    """Failing targets (or none registered) as the correlator reads them, naming the target
    groups and load balancer they sit behind."""
    if targets and not bad:
        return ()
    names = {t["target_group"] for t in bad} if bad else {g["TargetGroupName"] for g in groups}
    resources = [
        *(g["TargetGroupArn"] for g in groups if g["TargetGroupName"] in names),
        *sorted(names),
        *(g for g in groups[0].get("LoadBalancerArns", [])[:1]),
        *([load_balancer] if load_balancer else []),
        *(t["id"] for t in bad),
    ]
    if not targets:
        what = "no targets are registered"
    else:
        what = f"{len(bad)} of {len(targets)} targets fail health checks"
        codes = sorted({code for t in bad for code in _codes(t["description"])})
        reasons = Counter(t["reason"] for t in bad if t["reason"])
        if codes:
            what += f" with {', '.join(codes)}"
        elif reasons:
            reason = reasons.most_common(1)[0][0]
            words = _REASON_WORDS.get(reason, f"({reason})")
            what += f" {words}" if words else ""
    return (Symptom(what, tuple(dict.fromkeys(resources)), service=HEALTH_SERVICE),)


def _codes(description: str) -> list[str]:
    """``Health checks failed with these codes: [404]`` → ``["404"]``."""
    found = _CODES.search(description)
    return [c.strip() for c in found.group(1).split(",")] if found else []


def _findings(targets: list[dict[str, str]], *, empty: bool, scope: str) -> tuple[Finding, ...]:
    if empty:
        return (Finding(f"No targets are registered in the {scope}.", Severity.WARNING),)
    findings = []
    for t in targets[:_MAX_FINDINGS]:
        where = f"{t['id']}:{t['port']}" if t["port"] else t["id"]
        why = ": ".join(part for part in (t["reason"], t["description"]) if part)
        findings.append(
            Finding(
                f"{where} in {t['target_group']} is {t['state']}" + (f" ({why})" if why else ""),
                Severity.WARNING if t["state"] in _BAD_STATES else Severity.INFO,
            )
        )
    if len(targets) > _MAX_FINDINGS:
        findings.append(Finding(f"… and {len(targets) - _MAX_FINDINGS} more not healthy."))
    return tuple(findings)


def _summary(
    scope: str, groups: int, total: int, healthy: int, not_healthy: list[dict[str, str]]
) -> str:
    where = f"{scope}" if groups == 1 else f"{groups} target groups of {scope}"
    if total == 0:
        return f"No targets registered in {where}."
    text = f"{healthy} of {total} targets healthy in {where}"
    if not not_healthy:
        return f"{text}."
    states = Counter(t["state"] for t in not_healthy)
    reasons = Counter(t["reason"] for t in not_healthy if t["reason"])
    parts = ", ".join(f"{n} {state}" for state, n in states.most_common())
    why = f" (most common reason: {reasons.most_common(1)[0][0]})" if reasons else ""
    return f"{text}; {parts}{why}."


STEPS = (target_health,)
