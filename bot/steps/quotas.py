"""Service Quotas: a quota's value and, where AWS publishes usage, how close we are to it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from pydantic import Field, model_validator

from bot.durations import Duration, format_duration
from bot.errors import StepError, did_you_mean
from bot.metric_data import MetricQuery
from bot.results import Finding, Severity, Status, StepOutput
from bot.steps.base import StepContext, StepParams, step
from bot.steps.metric_data import fetch_series, latest, peak


class ServiceQuotaParams(StepParams):
    """The quota, by code or by its name, and when to worry."""

    service_code: str = Field(description="Service code, e.g. ec2, lambda, vpc.")
    quota_code: str | None = Field(default=None, description="Quota code, e.g. L-1216C47A.")
    quota_name: str | None = Field(
        default=None,
        description="Instead of the code: the quota's name, e.g. 'Concurrent executions'.",
    )
    lookback: Duration = Field(
        default=timedelta(hours=1), description="Read the usage metric this far back from now."
    )
    warn_percent: float = Field(
        default=80, gt=0, le=100, description="WARN when usage reaches this share of the quota."
    )

    @model_validator(mode="after")
    def _one_quota(self) -> ServiceQuotaParams:
        if bool(self.quota_code) == bool(self.quota_name):
            raise ValueError("give exactly one of quota_code or quota_name")
        return self


@step(
    "quotas.service_quota",
    params=ServiceQuotaParams,
    permissions=(
        "servicequotas:GetServiceQuota",
        "servicequotas:GetAWSDefaultServiceQuota",
        "servicequotas:ListAWSDefaultServiceQuotas",
        "cloudwatch:GetMetricData",
    ),
)
async def service_quota(ctx: StepContext, params: ServiceQuotaParams) -> StepOutput:
    """A service quota's applied value and, when AWS publishes a usage metric, current usage.

    Usage comes from the quota's CloudWatch usage metric (AWS/Usage, with the dimensions the
    quota names) over the lookback: the latest value and the peak, as a share of the quota.
    WARN when the peak reaches `warn_percent` (default 80%).

    Example:
        - id: vcpus
          uses: quotas.service_quota
          with:
            service_code: ec2
            quota_code: L-1216C47A
    """
    code = params.quota_code or await _code_for_name(ctx, params.service_code, params.quota_name)
    quota = await _quota(ctx, params.service_code, code)
    name, value = quota.get("QuotaName", code), float(quota["Value"])
    unit = "" if quota.get("Unit") in (None, "None") else f" {quota['Unit']}"
    data: dict[str, Any] = {
        "service_code": params.service_code,
        "quota_code": code,
        "quota_name": name,
        "value": value,
        "adjustable": bool(quota.get("Adjustable")),
        "usage": None,
        "peak_usage": None,
        "percent": None,
    }
    metric = quota.get("UsageMetric")
    if not metric or not metric.get("MetricName"):
        return StepOutput(
            summary=f"{name} ({params.service_code} {code}): {value:,g}{unit}. "
            "AWS publishes no usage metric for this quota.",
            data=data,
        )
    series = (
        await fetch_series(
            ctx,
            [
                MetricQuery(
                    "usage",
                    metric["MetricNamespace"],
                    metric["MetricName"],
                    metric.get("MetricDimensions", {}),
                    metric.get("MetricStatisticRecommendation") or "Maximum",
                    label=f"{name} usage",
                )
            ],
            start=ctx.now - params.lookback,
            end=ctx.now,
            period_s=60 if params.lookback <= timedelta(hours=6) else 300,
        )
    )["usage"]
    now_used, peak_used = latest(series), peak(series)
    window = format_duration(params.lookback)
    if now_used is None or peak_used is None:
        return StepOutput(
            summary=f"{name}: {value:,g}{unit}; no usage datapoints in the last {window}.",
            data=data,
        )
    percent = now_used / value * 100 if value else 0.0
    peak_percent = peak_used / value * 100 if value else 0.0
    data.update(usage=now_used, peak_usage=peak_used, percent=round(percent, 1))
    summary = (
        f"{name}: {now_used:,g} of {value:,g}{unit} used ({percent:.0f}%, "
        f"peak {peak_percent:.0f}% in the last {window})."
    )
    findings = []
    warn = peak_percent >= params.warn_percent
    if warn:
        hint = " Request an increase in Service Quotas." if quota.get("Adjustable") else ""
        findings.append(
            Finding(
                f"Usage reached {peak_percent:.0f}% of the {name} quota.{hint}",
                Severity.CRITICAL if peak_percent >= 100 else Severity.WARNING,
            )
        )
    return StepOutput(
        summary=summary,
        status=Status.WARN if warn else Status.OK,
        findings=tuple(findings),
        series=(replace(series, threshold=value),),
        data=data,
    )


async def _quota(ctx: StepContext, service: str, code: str) -> dict[str, Any]:
    """The applied value; the AWS default when the quota was never changed."""
    try:
        found = await ctx.call(
            "service-quotas", "get_service_quota", ServiceCode=service, QuotaCode=code
        )
    except StepError as exc:
        if exc.aws_code != "NoSuchResourceException":
            raise
        try:
            found = await ctx.call(
                "service-quotas",
                "get_aws_default_service_quota",
                ServiceCode=service,
                QuotaCode=code,
            )
        except StepError as inner:
            if inner.aws_code == "NoSuchResourceException":
                raise StepError(f"There is no quota {code} for service `{service}`.") from inner
            raise
    quota: dict[str, Any] = found["Quota"]
    return quota


async def _code_for_name(ctx: StepContext, service: str, name: str | None) -> str:
    try:
        pages = await ctx.paginate(
            "service-quotas", "list_aws_default_service_quotas", max_pages=10, ServiceCode=service
        )
    except StepError as exc:
        if exc.aws_code == "NoSuchResourceException":
            raise StepError(f"Service Quotas knows no service `{service}`.") from exc
        raise
    names = {q["QuotaName"]: q["QuotaCode"] for p in pages for q in p.get("Quotas", [])}
    for known, code in names.items():
        if known.casefold() == str(name).casefold():
            return str(code)
    hint = did_you_mean(str(name), names)
    raise StepError(f"Service `{service}` has no quota named “{name}”.{hint}")


STEPS = (service_quota,)
