"""IAM: the "Access Denied" checklist — would this principal be allowed these actions?"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from bot.errors import StepError
from bot.results import Finding, Severity, Status, StepOutput, Table
from bot.steps.base import StepContext, StepParams, step

_ASSUMED_ROLE = re.compile(r"^arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")


class SimulateParams(StepParams):
    """Who, doing what, on which resources."""

    principal_arn: str | None = Field(
        default=None,
        description="IAM user, group or role ARN; defaults to the bot's own role.",
    )
    actions: list[str] = Field(
        min_length=1, description="IAM actions, e.g. [s3:GetObject, kms:Decrypt]."
    )
    resources: list[str] = Field(
        default_factory=lambda: ["*"], description="Resource ARNs the actions act on."
    )


def role_arn_for(assumed_role_arn: str) -> str | None:
    """``arn:aws:sts::1:assumed-role/Name/session`` → ``arn:aws:iam::1:role/Name`` (no path)."""
    found = _ASSUMED_ROLE.match(assumed_role_arn)
    if not found:
        return None
    partition, account, name = found.groups()
    return f"arn:{partition}:iam::{account}:role/{name}"


@step(
    "iam.simulate",
    params=SimulateParams,
    permissions=("iam:SimulatePrincipalPolicy", "sts:GetCallerIdentity", "iam:GetRole"),
)
async def simulate(ctx: StepContext, params: SimulateParams) -> StepOutput:
    """Simulate the principal's IAM policies for each action: allowed, implicit or explicit deny.

    Uses SimulatePrincipalPolicy: identity policies, permissions boundary and the account's
    SCPs, naming the statements that decided. Resource-based policies (bucket, key, queue
    policies) are not part of the simulation: if everything is allowed here, look there. WARN
    when any action is denied.

    Example:
        - id: access
          uses: iam.simulate
          with:
            principal_arn: arn:aws:iam::123456789012:role/checkout-api
            actions: [s3:GetObject, kms:Decrypt]
            resources: ["arn:aws:s3:::orders-bucket/*"]
    """
    principal = params.principal_arn or await _own_principal(ctx)
    pages = await ctx.paginate(
        "iam",
        "simulate_principal_policy",
        max_pages=5,
        PolicySourceArn=principal,
        ActionNames=params.actions,
        ResourceArns=params.resources,
    )
    results = [r for p in pages for r in p.get("EvaluationResults", [])]
    if not results:
        raise StepError(f"IAM returned no evaluation for {principal}.")
    denied = [r for r in results if r["EvalDecision"] != "allowed"]
    findings = [_finding(r) for r in denied] + [_finding(r) for r in results if r not in denied]
    if denied:
        names = ", ".join(sorted({r["EvalActionName"] for r in denied}))
        summary = f"`{principal}` is denied {names}. {findings[0].text}"
    else:
        summary = (
            f"`{principal}` is allowed all {len(results)} action/resource pairs by its IAM "
            "policies; if AWS still says Access Denied, check resource policies (bucket, key)."
        )
    return StepOutput(
        summary=summary,
        status=Status.WARN if denied else Status.OK,
        findings=tuple(findings),
        tables=(
            Table(
                title="Simulation",
                columns=("action", "resource", "decision", "matched statements"),
                rows=tuple(
                    (
                        r["EvalActionName"],
                        r.get("EvalResourceName", "*"),
                        r["EvalDecision"],
                        _statements(r) or "-",
                    )
                    for r in results
                ),
            ),
        ),
        data={
            "principal": principal,
            "denied": len(denied),
            "results": [
                {
                    "action": r["EvalActionName"],
                    "resource": r.get("EvalResourceName", "*"),
                    "decision": r["EvalDecision"],
                    "statements": _statements(r),
                }
                for r in results
            ],
        },
    )


async def _own_principal(ctx: StepContext) -> str:
    """The bot's caller identity, as the IAM ARN SimulatePrincipalPolicy accepts."""
    arn = str((await ctx.call("sts", "get_caller_identity"))["Arn"])
    role = role_arn_for(arn)
    if role is None:
        return arn
    try:  # the role may live under a path (/service-role/...), which the session ARN drops
        found = await ctx.call("iam", "get_role", RoleName=role.rsplit("/", 1)[1])
    except StepError:
        return role
    return str(found["Role"]["Arn"])


def _finding(result: dict[str, Any]) -> Finding:
    action, resource = result["EvalActionName"], result.get("EvalResourceName", "*")
    decision = result["EvalDecision"]
    where = f"{action} on {resource}"
    statements = _statements(result)
    if decision == "allowed":
        return Finding(f"✓ {where}: allowed by {statements or 'a policy'}.")
    if decision == "explicitDeny":
        text = f"✗ {where}: explicitly denied by {statements or 'a Deny statement'}."
    else:
        text = f"✗ {where}: implicitly denied — no statement allows it."
    if result.get("OrganizationsDecisionDetail", {}).get("AllowedByOrganizations") is False:
        text += " An Organizations SCP blocks it."
    boundary = result.get("PermissionsBoundaryDecisionDetail", {})
    if boundary.get("AllowedByPermissionsBoundary") is False:
        text += " The permissions boundary does not allow it."
    missing = result.get("MissingContextValues", [])
    if missing:
        text += f" (Condition keys not simulated: {', '.join(missing)}.)"
    return Finding(text, Severity.WARNING)


def _statements(result: dict[str, Any]) -> str:
    return ", ".join(
        f"{s.get('SourcePolicyId', '?')} ({s.get('SourcePolicyType', 'policy')})"
        for s in result.get("MatchedStatements", [])
    )


STEPS = (simulate,)
