"""route53.health_checks against moto's health checks, with the per-region status and the last
failure reason faked (moto answers one made-up observation and has no failure reasons)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bot.errors import StepError
from bot.results import Severity, Status, Symptom
from bot.steps.route53 import health_checks
from tests.steps.stepctx import context, run
from tests.support.aws_hooks import fake_operation

NOW = datetime.now(UTC).replace(microsecond=0)
REGIONS = ("us-east-1", "us-west-1", "eu-west-1", "ap-southeast-1")


def create_check(session: boto3.Session, domain: str) -> str:
    answer = session.client("route53").create_health_check(
        CallerReference=domain,
        HealthCheckConfig={
            "FullyQualifiedDomainName": domain,
            "Port": 443,
            "Type": "HTTPS",
            "ResourcePath": "/health",
        },
    )
    return str(answer["HealthCheck"]["Id"])


def observations(failing: set[str], status: str) -> dict[str, Any]:
    return {
        "HealthCheckObservations": [
            {
                "Region": region,
                "IPAddress": f"15.177.{i}.10",
                "StatusReport": {
                    "Status": status if region in failing else "Success: HTTP Status Code 200, OK",
                    "CheckedTime": NOW - timedelta(seconds=30),
                },
            }
            for i, region in enumerate(REGIONS)
        ]
    }


def fake_status(session: boto3.Session, failing: set[str]) -> None:
    """Every health check observed failing from ``failing`` regions (Route 53 names the check
    in the URL path, which a botocore hook's answer does not see: one answer for all)."""
    reason = "Failure: HTTP Status Code 503, Service Unavailable. Resolved IP: 203.0.113.10."
    fake_operation(session, "route53", "GetHealthCheckStatus", observations(failing, reason))
    fake_operation(
        session,
        "route53",
        "GetHealthCheckLastFailureReason",
        observations(set(REGIONS) if failing else set(), reason),
    )


async def test_a_domain_failing_from_most_regions_is_critical(session: boto3.Session) -> None:
    shop = create_check(session, "shop.example.com")
    create_check(session, "status.other.org")
    fake_status(session, {"us-east-1", "us-west-1", "eu-west-1"})

    out = await run(health_checks, context(session, now=NOW), domain="example.com")

    assert out.status is Status.WARN
    assert out.data["count"] == 1 and out.data["failing"] == 1
    assert out.data["checks"][0]["failing_regions"] == ["us-east-1", "us-west-1", "eu-west-1"]
    [finding] = out.findings
    assert finding.severity is Severity.CRITICAL
    assert finding.text == (
        f"`shop.example.com/health` ({shop}) fails from 3 of 4 checker regions: "
        "Failure: HTTP Status Code 503, Service Unavailable. Resolved IP: 203.0.113.10."
    )
    assert out.summary.startswith("0 of 1 Route 53 health checks for `example.com` pass; failing:")
    [symptom] = out.evidence
    assert isinstance(symptom, Symptom) and symptom.resources == (shop, "shop.example.com")
    assert out.tables[0].rows == (
        (f"`shop.example.com/health` ({shop})", "HTTPS", "1/4", finding.text.split(": ", 1)[1]),
    )


async def test_checks_by_id_and_all_passing(session: boto3.Session) -> None:
    api = create_check(session, "api.example.com")
    fake_status(session, set())
    out = await run(health_checks, context(session, now=NOW), health_check_ids=[api])
    assert out.status is Status.OK and out.evidence == ()
    assert out.summary == "1 of 1 Route 53 health checks for the account pass."
    with pytest.raises(StepError, match="No Route 53 health check with id nope"):
        await run(health_checks, context(session, now=NOW), health_check_ids=["nope"])


async def test_a_domain_without_checks_says_so(session: boto3.Session) -> None:
    out = await run(health_checks, context(session, now=NOW), domain="example.net")
    assert out.summary == "No Route 53 health checks for `example.net`."


def test_domain_and_ids_together_are_refused() -> None:
    with pytest.raises(ValueError, match="either domain or health_check_ids"):
        health_checks.params.model_validate({"domain": "a.com", "health_check_ids": ["x"]})
