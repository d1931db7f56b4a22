"""Route 53: do the health checks of a domain pass, seen from each checker region?"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, model_validator

from bot.aws import Target
from bot.errors import StepError
from bot.results import Finding, Severity, Status, StepOutput, Symptom, Table
from bot.steps.base import StepContext, StepParams, step

# Route 53 is global; its API lives in us-east-1.
ROUTE53_REGION = "us-east-1"
_MAX_CHECKS = 20


class HealthChecksParams(StepParams):
    """Which health checks: those of a domain, or given by id."""

    domain: str | None = Field(
        default=None,
        description="Health checks whose domain name is this one or ends with it "
        "(example.com matches www.example.com).",
    )
    health_check_ids: tuple[str, ...] = Field(
        default=(), description="Instead of a domain: these health check ids."
    )

    @model_validator(mode="after")
    def _one_selector(self) -> HealthChecksParams:
        if self.domain and self.health_check_ids:
            raise ValueError("give either domain or health_check_ids, not both")
        return self


@step(
    "route53.health_checks",
    params=HealthChecksParams,
    permissions=(
        "route53:ListHealthChecks",
        "route53:GetHealthCheckStatus",
        "route53:GetHealthCheckLastFailureReason",
    ),
)
async def health_checks(ctx: StepContext, params: HealthChecksParams) -> StepOutput:
    """Route 53 health checks of a domain (or by id): status per checker region, and why the
    last check failed.

    Answers "is it down for everyone?": each health check is probed from several AWS regions;
    a check failing from most of them means the endpoint is down (or cut off) from outside,
    failing from one region points at the network in between. The last failure reason is
    what Route 53 saw (``HTTP Status Code 503``, ``Timeout``, ...). Without a domain or ids,
    every health check in the account is read (at most 20). WARN when a check fails.

    Example:
        - id: dns
          uses: route53.health_checks
          with:
            domain: shop.example.com
    """
    target = Target(region=ROUTE53_REGION, account=ctx.target.account)
    pages = await ctx.aws.paginate("route53", "list_health_checks", target, ctx.stats, max_pages=5)
    checks = [c for page in pages for c in page.get("HealthChecks", [])]
    if params.health_check_ids:
        wanted = set(params.health_check_ids)
        checks = [c for c in checks if c["Id"] in wanted]
        missing = wanted - {c["Id"] for c in checks}
        if missing:
            raise StepError(f"No Route 53 health check with id {', '.join(sorted(missing))}.")
    elif params.domain:
        domain = params.domain.strip().rstrip(".").lower()
        checks = [c for c in checks if _matches(c, domain)]
    scope = f"`{params.domain}`" if params.domain else "the account"
    if not checks:
        return StepOutput(
            summary=f"No Route 53 health checks for {scope}.",
            data={"count": 0, "failing": 0, "checks": []},
        )
    checks = checks[:_MAX_CHECKS]
    reports = await asyncio.gather(*(_report(ctx, target, c) for c in checks))
    failing = [r for r in reports if r["failing"]]
    findings = [
        Finding(
            f"{r['name']} fails from {r['failing']} of {r['regions']} checker regions: "
            f"{r['reason'] or 'no reason given'}",
            Severity.CRITICAL if r["failing"] * 2 > r["regions"] else Severity.WARNING,
        )
        for r in failing
    ]
    summary = (
        f"{len(checks) - len(failing)} of {len(checks)} Route 53 health checks for {scope} pass"
    )
    summary += f"; failing: {findings[0].text}" if findings else "."
    return StepOutput(
        summary=summary,
        status=Status.WARN if failing else Status.OK,
        findings=tuple(findings),
        tables=(
            Table(
                title="Route 53 health checks",
                columns=("health check", "type", "passing regions", "last failure"),
                rows=tuple(
                    (
                        r["name"],
                        r["type"],
                        f"{r['regions'] - r['failing']}/{r['regions']}",
                        r["reason"],
                    )
                    for r in reports
                ),
            ),
        ),
        data={"count": len(reports), "failing": len(failing), "checks": reports},
        evidence=tuple(
            Symptom(
                f"Route 53 health check {r['name']} fails from {r['failing']} of "
                f"{r['regions']} regions ({r['reason'] or 'no reason given'})",
                tuple(x for x in (r["id"], r["domain"]) if x),
                service="ROUTE53",
            )
            for r in failing
        ),
    )


def _matches(check: dict[str, Any], domain: str) -> bool:
    name = str(check.get("HealthCheckConfig", {}).get("FullyQualifiedDomainName", "")).lower()
    return name == domain or name.endswith("." + domain)


async def _report(ctx: StepContext, target: Target, check: dict[str, Any]) -> dict[str, Any]:
    config = check.get("HealthCheckConfig", {})
    status, last_failure = await asyncio.gather(
        ctx.aws.call(
            "route53", "get_health_check_status", target, ctx.stats, HealthCheckId=check["Id"]
        ),
        ctx.aws.call(
            "route53",
            "get_health_check_last_failure_reason",
            target,
            ctx.stats,
            HealthCheckId=check["Id"],
        ),
    )
    observations = status.get("HealthCheckObservations", [])
    failing = [o for o in observations if not _passes(o)]
    failures = sorted(
        last_failure.get("HealthCheckObservations", []),
        key=lambda o: o.get("StatusReport", {}).get("CheckedTime") or 0,
        reverse=True,
    )
    reason = next(
        (
            str(o["StatusReport"].get("Status", ""))
            for o in failing + failures
            if o.get("StatusReport")
        ),
        "",
    )
    domain = str(config.get("FullyQualifiedDomainName", "") or config.get("IPAddress", ""))
    where = f"{domain}{config.get('ResourcePath', '')}" if domain else check["Id"]
    return {
        "id": check["Id"],
        "name": f"`{where}` ({check['Id']})",
        "domain": domain,
        "type": str(config.get("Type", "")),
        "regions": len(observations),
        "failing": len(failing),
        "failing_regions": [str(o.get("Region", "")) for o in failing],
        "reason": reason if failing else "",
    }


def _passes(observation: dict[str, Any]) -> bool:
    return str(observation.get("StatusReport", {}).get("Status", "")).startswith("Success")


STEPS = (health_checks,)
