"""Open cost anomalies (Cost Anomaly Detection) and budgets near their limit (AWS Budgets)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bot.aws import AwsClients, CallStats, Target
from bot.digest.model import Anomaly, BudgetStatus, RootCause
from bot.digest.periods import AVERAGE_DAYS, DigestPeriods, iso

# Cost Explorer (anomalies included) and AWS Budgets answer only at their us-east-1 endpoint.
BILLING = Target(region="us-east-1")
BUDGET_ALERT_PERCENT = 80
MAX_PAGES = 5  # per query; a runaway pagination would cost money
_DISMISSED = {"NO", "PLANNED_ACTIVITY"}  # anomaly feedback that closes it


async def open_anomalies(
    aws: AwsClients, stats: CallStats, periods: DigestPeriods
) -> tuple[Anomaly, ...]:
    """Anomalies of the last 7 days that cost something and nobody has dismissed."""
    pages = await aws.paginate(
        "ce",
        "get_anomalies",
        BILLING,
        stats,
        max_pages=MAX_PAGES,
        DateInterval={
            "StartDate": iso(periods.sent_on - timedelta(days=AVERAGE_DAYS)),
            "EndDate": iso(periods.report_date),
        },
        TotalImpact={"NumericOperator": "GREATER_THAN", "StartValue": 0.0},
    )
    found = [
        _anomaly(item)
        for page in pages
        for item in page.get("Anomalies", [])
        if item.get("Feedback") not in _DISMISSED
    ]
    return tuple(sorted(found, key=lambda a: -a.total_impact))


def _anomaly(item: Mapping[str, Any]) -> Anomaly:
    impact = item.get("Impact", {})
    causes = tuple(
        RootCause(
            service=cause.get("Service", ""),
            region=cause.get("Region", ""),
            account=cause.get("LinkedAccountName") or cause.get("LinkedAccount", ""),
            usage_type=cause.get("UsageType", ""),
            contribution=cause.get("Impact", {}).get("Contribution"),
        )
        for cause in item.get("RootCauses", [])
    )
    return Anomaly(
        anomaly_id=item["AnomalyId"],
        start=item.get("AnomalyStartDate", ""),
        end=item.get("AnomalyEndDate", ""),
        dimension=item.get("DimensionValue", ""),
        total_impact=float(impact.get("TotalImpact", impact.get("MaxImpact", 0.0))),
        impact_percent=impact.get("TotalImpactPercentage"),
        root_causes=causes,
    )


async def budgets_near_limit(aws: AwsClients) -> tuple[BudgetStatus, ...]:
    """Cost budgets whose actual spend has reached 80 % of their limit, fullest first."""
    identity = await aws.call("sts", "get_caller_identity", BILLING)
    pages = await aws.paginate(
        "budgets", "describe_budgets", BILLING, max_pages=MAX_PAGES, AccountId=identity["Account"]
    )
    statuses = [
        status
        for page in pages
        for budget in page.get("Budgets", [])
        if (status := _budget(budget)) is not None and status.percent >= BUDGET_ALERT_PERCENT
    ]
    return tuple(sorted(statuses, key=lambda s: -s.percent))


def _budget(budget: Mapping[str, Any]) -> BudgetStatus | None:
    limit = budget.get("BudgetLimit")
    if budget.get("BudgetType") != "COST" or not limit:
        return None
    spend = budget.get("CalculatedSpend", {})
    actual = spend.get("ActualSpend", {})
    forecasted = spend.get("ForecastedSpend")
    return BudgetStatus(
        name=budget["BudgetName"],
        limit=Decimal(str(limit["Amount"])),
        actual=Decimal(str(actual.get("Amount", "0"))),
        forecasted=Decimal(str(forecasted["Amount"])) if forecasted else None,
        unit=str(limit.get("Unit", "")),
        time_unit=str(budget.get("TimeUnit", "")),
    )
