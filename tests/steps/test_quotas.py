from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from bot.errors import StepError
from bot.results import Severity, Status
from bot.steps.quotas import service_quota
from tests.steps.stepctx import context, run
from tests.support.aws_hooks import AwsFault, fake_operation

NOW = datetime.now(UTC).replace(microsecond=0)
USAGE_DIMENSIONS = {
    "Service": "EC2",
    "Type": "Resource",
    "Resource": "vCPU",
    "Class": "Standard/OnDemand",
}

# GetServiceQuota for EC2's on-demand vCPU quota as AWS returns it; moto only knows VPC quotas.
VCPU_QUOTA: dict[str, Any] = {
    "Quota": {
        "ServiceCode": "ec2",
        "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
        "QuotaArn": "arn:aws:servicequotas:us-east-1:123456789012:ec2/L-1216C47A",
        "QuotaCode": "L-1216C47A",
        "QuotaName": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
        "Value": 256.0,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
        "UsageMetric": {
            "MetricNamespace": "AWS/Usage",
            "MetricName": "ResourceCount",
            "MetricDimensions": USAGE_DIMENSIONS,
            "MetricStatisticRecommendation": "Maximum",
        },
    }
}


def put_usage(session: boto3.Session, values: list[float]) -> None:
    session.client("cloudwatch").put_metric_data(
        Namespace="AWS/Usage",
        MetricData=[
            {
                "MetricName": "ResourceCount",
                "Dimensions": [{"Name": k, "Value": v} for k, v in USAGE_DIMENSIONS.items()],
                "Timestamp": NOW - timedelta(minutes=len(values) - i),
                "Value": value,
            }
            for i, value in enumerate(values)
        ],
    )


async def test_quota_without_usage_metric_from_moto(session: boto3.Session) -> None:
    out = await run(service_quota, context(session), service_code="vpc", quota_code="L-A4707A72")

    assert out.status is Status.OK
    assert out.summary == (
        "Internet gateways per Region (vpc L-A4707A72): 5. "
        "AWS publishes no usage metric for this quota."
    )
    assert out.data["value"] == 5


async def test_quota_found_by_name_case_insensitively(session: boto3.Session) -> None:
    out = await run(
        service_quota, context(session), service_code="vpc", quota_name="network acls per vpc"
    )

    assert out.data["quota_code"] == "L-B4A6D682"


async def test_misspelt_name_suggests_the_closest(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="Did you mean `Internet gateways per Region`"):
        await run(
            service_quota,
            context(session),
            service_code="vpc",
            quota_name="Internet gateway per Region",
        )


async def test_usage_near_the_quota_warns(session: boto3.Session) -> None:
    fake_operation(session, "service-quotas", "GetServiceQuota", VCPU_QUOTA)
    put_usage(session, [180, 236, 224])

    out = await run(
        service_quota, context(session, now=NOW), service_code="ec2", quota_code="L-1216C47A"
    )

    assert out.status is Status.WARN
    assert out.summary == (
        "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances: 224 of 256 used "
        "(88%, peak 92% in the last 1h)."
    )
    assert out.findings[0].severity is Severity.WARNING
    assert "Request an increase" in out.findings[0].text
    assert out.data["percent"] == 87.5
    assert out.series[0].threshold == 256


async def test_usage_well_below_is_ok(session: boto3.Session) -> None:
    fake_operation(session, "service-quotas", "GetServiceQuota", VCPU_QUOTA)
    put_usage(session, [16, 32])

    out = await run(
        service_quota, context(session, now=NOW), service_code="ec2", quota_code="L-1216C47A"
    )

    assert out.status is Status.OK
    assert out.data["usage"] == 32


async def test_unchanged_quota_falls_back_to_the_aws_default(session: boto3.Session) -> None:
    fake_operation(
        session,
        "service-quotas",
        "GetServiceQuota",
        AwsFault(
            "NoSuchResourceException",
            "The request failed because the specified quota does not have an applied value.",
        ),
    )
    default = {"Quota": {**VCPU_QUOTA["Quota"], "Value": 5.0}}
    fake_operation(session, "service-quotas", "GetAWSDefaultServiceQuota", default)

    out = await run(
        service_quota, context(session, now=NOW), service_code="ec2", quota_code="L-1216C47A"
    )

    assert out.data["value"] == 5
    assert "no usage datapoints in the last 1h" in out.summary


async def test_unknown_quota_code_names_it(session: boto3.Session) -> None:
    fake_operation(
        session,
        "service-quotas",
        "GetAWSDefaultServiceQuota",
        AwsFault("NoSuchResourceException", "The specified quota does not exist."),
    )
    with pytest.raises(StepError, match="There is no quota L-00000000 for service `vpc`"):
        await run(service_quota, context(session), service_code="vpc", quota_code="L-00000000")


def test_exactly_one_of_code_or_name() -> None:
    with pytest.raises(ValidationError, match="exactly one of quota_code or quota_name"):
        service_quota.params.model_validate({"service_code": "ec2"})
