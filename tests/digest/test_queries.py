"""build_digest against moto (Cost Explorer usage, Budgets, STS) and fakes for what moto lacks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from bot.aws import AwsClients
from bot.config import AwsSettings, DigestSettings
from bot.digest.queries import build_digest
from bot.digest.render import digest_text
from tests.digest import seed
from tests.support.aws_hooks import AwsFault, fake_operation, load_fixture

ACCOUNT = "123456789012"
NOT_ENABLED = AwsFault("AccessDeniedException", "User not enabled for cost explorer access")


@pytest.fixture
def aws(session: boto3.Session) -> Iterator[AwsClients]:
    clients = AwsClients(AwsSettings(), session_factory=lambda: session)
    yield clients
    clients.close()


@pytest.fixture
def forecast_calls(session: boto3.Session) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    fake_operation(session, "ce", "GetCostForecast", seed.recorder(seed.FORECAST, calls))
    return calls


@pytest.fixture
def anomaly_calls(session: boto3.Session) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    fake_operation(session, "ce", "GetAnomalies", seed.recorder(seed.ANOMALIES, calls))
    return calls


def _row(text: str, name: str) -> str:
    """The table row that starts with ``name``, with runs of spaces squeezed."""
    rows = [line for line in text.splitlines() if line.strip().startswith(f"{name} ")]
    assert len(rows) == 1, rows
    return " ".join(rows[0].split())


def _budget(session: boto3.Session, name: str, limit: str, actual: str, forecast: str) -> None:
    session.client("budgets").create_budget(
        AccountId=ACCOUNT,
        Budget={
            "BudgetName": name,
            "BudgetLimit": {"Amount": limit, "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
            "CalculatedSpend": {
                "ActualSpend": {"Amount": actual, "Unit": "USD"},
                "ForecastedSpend": {"Amount": forecast, "Unit": "USD"},
            },
        },
    )


async def test_yesterday_against_the_day_before_and_the_week(
    aws: AwsClients, forecast_calls: list[Any], anomaly_calls: list[Any]
) -> None:
    seed.seed_cost_and_usage(seed.daily_by_service(), seed.month_to_date())

    digest = await build_digest(aws, DigestSettings(), seed.SENT_ON)

    assert digest.report_date == date(2025, 3, 10)
    assert digest.currency == "USD"
    assert digest.total == Decimal("297.25")
    assert digest.previous_total == Decimal("234.75")
    assert digest.avg_7d == Decimal("237.75")
    text = digest_text(digest)
    assert "Yesterday: $297.25" in text
    assert "vs the day before ($234.75): +$62.50 (+27%)" in text
    assert "vs the 7-day average ($237.75): +$59.50 (+25%)" in text


async def test_top_services_biggest_movers_first(
    aws: AwsClients, forecast_calls: list[Any], anomaly_calls: list[Any]
) -> None:
    seed.seed_cost_and_usage(seed.daily_by_service(), seed.month_to_date())

    digest = await build_digest(aws, None, seed.SENT_ON)

    names = [s.name for s in digest.services]
    # movers by size of change, then the steady ones by cost; the zero-cost Tax line is left out
    assert names == [
        seed.LAMBDA,
        seed.EC2,
        seed.S3,
        seed.RDS,
        seed.DYNAMODB,
        seed.CLOUDFRONT,
        seed.CLOUDWATCH,
        seed.KMS,
    ]
    lam, ec2, s3 = digest.services[:3]
    assert (lam.cost, lam.previous, lam.change) == (Decimal(45), Decimal(5), Decimal(40))
    assert ec2.change == Decimal(30)
    assert s3.change == Decimal("-7.5")
    text = digest_text(digest)
    assert _row(text, seed.LAMBDA) == "AWS Lambda $45.00 +$40.00 (+800%)"
    assert _row(text, seed.S3) == "Amazon Simple Storage Service $12.50 -$7.50 (-38%)"
    assert _row(text, seed.RDS) == "Amazon Relational Database Service $80.00 no change"
    # the amounts form a right-aligned column
    table = text.split("Top services, biggest movers first\n")[1].split("\n\n")[0]
    assert len(table.splitlines()) == 8
    assert len({line.index(".") for line in table.splitlines()}) == 1


async def test_month_to_date_against_the_same_days_of_last_month_and_forecast(
    aws: AwsClients, forecast_calls: list[dict[str, Any]], anomaly_calls: list[Any]
) -> None:
    seed.seed_cost_and_usage(seed.daily_by_service(), seed.month_to_date())

    digest = await build_digest(aws, None, seed.SENT_ON)

    assert digest.mtd == Decimal("2431.00")
    assert digest.mtd_last_month == Decimal("2000.00")  # Feb 1-10 only, not Feb 11-28
    assert digest.forecast is not None
    assert digest.forecast.remaining == Decimal("5600.12")
    assert digest.forecast.month_total == Decimal("8031.12")
    assert forecast_calls[0]["TimePeriod"] == {"Start": "2025-03-11", "End": "2025-04-01"}
    assert forecast_calls[0]["Metric"] == "UNBLENDED_COST"
    assert forecast_calls[0]["Granularity"] == "MONTHLY"
    text = digest_text(digest)
    assert "Month to date: $2,431.00; same days last month $2,000.00: +$431.00 (+22%)" in text
    assert "Forecast for March: $8,031.12 ($5,600.12 forecast for the remaining 21 days)" in text


async def test_no_forecast_when_the_reported_day_ends_the_month(
    aws: AwsClients, forecast_calls: list[dict[str, Any]], anomaly_calls: list[Any]
) -> None:
    seed.seed_cost_and_usage(seed.daily_by_service(), seed.month_to_date())

    digest = await build_digest(aws, None, date(2025, 4, 1))

    assert digest.report_date == date(2025, 3, 31)
    assert forecast_calls == []
    assert digest.forecast is None
    assert not any("Forecast" in line for line in digest.missing)


async def test_open_anomalies_with_impact_and_root_cause(
    aws: AwsClients, forecast_calls: list[Any], anomaly_calls: list[dict[str, Any]]
) -> None:
    seed.seed_cost_and_usage(seed.daily_by_service(), seed.month_to_date())

    digest = await build_digest(aws, None, seed.SENT_ON)

    assert anomaly_calls[0]["DateInterval"] == {"StartDate": "2025-03-04", "EndDate": "2025-03-10"}
    assert anomaly_calls[0]["TotalImpact"]["NumericOperator"] == "GREATER_THAN"
    # the CloudFront anomaly was marked as planned activity: it is not open any more
    assert [a.dimension for a in digest.anomalies] == ["AWS Lambda"]
    assert (
        "AWS Lambda: $40.00 impact (+800% over expected), since 2025-03-09; root cause: "
        "AWS Lambda, USE1-Lambda-GB-Second, us-east-1, account prod ($38.50)"
    ) in digest_text(digest)


async def test_budgets_near_or_over_their_limit(
    aws: AwsClients,
    session: boto3.Session,
    forecast_calls: list[Any],
    anomaly_calls: list[Any],
) -> None:
    seed.seed_cost_and_usage(seed.daily_by_service(), seed.month_to_date())
    _budget(session, "monthly-total", "3000", "2431.00", "8031.12")  # 81 %
    _budget(session, "sandbox", "100", "130", "390")  # 130 %
    _budget(session, "org-wide", "10000", "2431.00", "8031.12")  # 24 %: not shown

    digest = await build_digest(aws, None, seed.SENT_ON)

    assert [b.name for b in digest.budgets] == ["sandbox", "monthly-total"]
    text = digest_text(digest)
    assert "sandbox (monthly): OVER limit, $130.00 of $100.00 (130%), forecast $390.00" in text
    assert "monthly-total (monthly): near limit, $2,431.00 of $3,000.00 (81%)" in text
    assert "org-wide" not in text


async def test_grouping_by_a_cost_allocation_tag_shows_untagged(
    aws: AwsClients, forecast_calls: list[Any], anomaly_calls: list[Any]
) -> None:
    # AWS's documented SERVICE + TAG answer (with an empty `Environment$` key) as yesterday;
    # the days before only had the untagged S3 spend.
    real = load_fixture("aws_responses/ce-get-cost-and-usage-cli-example-2.json")
    groups = real["ResultsByTime"][0]["Groups"]
    days = [
        {
            "TimePeriod": {"Start": when.isoformat(), "End": (when + timedelta(1)).isoformat()},
            "Total": {},
            "Groups": groups if when == seed.REPORTED else groups[:1],
            "Estimated": False,
        }
        for when in (date(2025, 2, 25) + timedelta(n) for n in range(14))
    ]
    answer = {"GroupDefinitions": real["GroupDefinitions"], "ResultsByTime": days}
    seed.seed_cost_and_usage(answer, seed.month_to_date())

    digest = await build_digest(aws, DigestSettings(group_by_tag="Environment"), seed.SENT_ON)

    assert [(t.name, t.cost) for t in digest.tag_groups] == [
        ("untagged", Decimal("40.3543773134")),
        ("Dev", Decimal("0.2682364644")),
    ]
    assert digest.total == Decimal("40.6226137778")
    text = digest_text(digest)
    assert "By Environment" in text
    assert _row(text, "untagged") == "untagged $40.35 no change"
    assert _row(text, "Dev") == "Dev $0.27 +$0.27 (new)"


async def test_cost_explorer_requests_are_few_and_reported(
    aws: AwsClients, forecast_calls: list[Any], anomaly_calls: list[Any]
) -> None:
    seed.seed_cost_and_usage(seed.daily_by_service(), seed.month_to_date())

    digest = await build_digest(aws, DigestSettings(group_by_tag="Environment"), seed.SENT_ON)

    assert digest.ce_requests == 4  # daily, month to date, forecast, anomalies
    assert "This digest made 4 Cost Explorer requests (≈ $0.04)." in digest_text(digest)


async def test_every_page_is_a_request(
    aws: AwsClients, forecast_calls: list[Any], anomaly_calls: list[Any]
) -> None:
    whole = seed.daily_by_service()
    first = {**whole, "ResultsByTime": whole["ResultsByTime"][:7], "NextPageToken": "page-2"}
    second = {**whole, "ResultsByTime": whole["ResultsByTime"][7:]}
    seed.seed_cost_and_usage(first, second, seed.month_to_date())

    digest = await build_digest(aws, None, seed.SENT_ON)

    assert digest.total == Decimal("297.25")
    assert digest.avg_7d == Decimal("237.75")
    assert digest.ce_requests == 5
    assert "This digest made 5 Cost Explorer requests (≈ $0.05)." in digest_text(digest)


async def test_cost_explorer_not_enabled_still_builds_a_digest(
    aws: AwsClients,
    session: boto3.Session,
    forecast_calls: list[Any],
    anomaly_calls: list[Any],
) -> None:
    # moto cannot refuse GetCostAndUsage: fake only that refusal, as AWS words it
    fake_operation(session, "ce", "GetCostAndUsage", NOT_ENABLED)
    _budget(session, "sandbox", "100", "130", "390")

    digest = await build_digest(aws, None, seed.SENT_ON)

    assert digest.total is None
    assert digest.ce_requests == 0
    assert forecast_calls == [] and anomaly_calls == []  # not asked: they would fail the same way
    assert [b.name for b in digest.budgets] == ["sandbox"]
    text = digest_text(digest)
    assert "Yesterday's spend is unavailable" in text
    assert (
        "Daily spend unavailable: Cost Explorer is not enabled for this account." in text
        and "The bot also needs `ce:GetCostAndUsage` in its IAM policy." in text
    )
    assert "Anomalies unavailable: Cost Explorer is not enabled" in text
    assert "This digest made 0 Cost Explorer requests (≈ $0.00)." in text


async def test_each_denied_section_names_the_iam_action_that_fixes_it(
    aws: AwsClients, session: boto3.Session, forecast_calls: list[Any]
) -> None:
    seed.seed_cost_and_usage(seed.daily_by_service(), seed.month_to_date())
    denied = "User: arn:aws:sts::123456789012:assumed-role/triagebot/x is not authorized"
    fake_operation(session, "ce", "GetAnomalies", AwsFault("AccessDeniedException", denied))
    fake_operation(session, "budgets", "DescribeBudgets", AwsFault("AccessDeniedException", denied))

    digest = await build_digest(aws, None, seed.SENT_ON)

    assert digest.total == Decimal("297.25")
    assert digest.missing == (
        "Anomalies unavailable: add `ce:GetAnomalies` to the bot's IAM policy.",
        "Budgets unavailable: add `budgets:ViewBudget` and `sts:GetCallerIdentity` "
        "to the bot's IAM policy.",
    )
    assert "- Anomalies unavailable: add `ce:GetAnomalies`" in digest_text(digest)


async def test_forecast_without_enough_history(
    aws: AwsClients, session: boto3.Session, anomaly_calls: list[Any]
) -> None:
    seed.seed_cost_and_usage(seed.daily_by_service(), seed.month_to_date())
    fault = AwsFault("DataUnavailableException", "Insufficient amount of historical data")
    fake_operation(session, "ce", "GetCostForecast", fault)

    digest = await build_digest(aws, None, seed.SENT_ON)

    assert digest.forecast is None
    assert digest.mtd == Decimal("2431.00")
    assert digest.missing == (
        "Forecast unavailable: Cost Explorer has too little history to forecast yet.",
    )


async def test_currency_comes_from_the_response(
    aws: AwsClients, forecast_calls: list[Any], anomaly_calls: list[Any]
) -> None:
    seed.seed_cost_and_usage(seed.daily_by_service("EUR"), seed.month_to_date("EUR"))

    digest = await build_digest(aws, None, seed.SENT_ON)

    assert digest.currency == "EUR"
    assert "Yesterday: 297.25 EUR" in digest_text(digest)


async def test_denied_cost_and_usage_still_asks_for_forecast_and_anomalies(
    aws: AwsClients,
    session: boto3.Session,
    forecast_calls: list[Any],
    anomaly_calls: list[Any],
) -> None:
    denied = AwsFault(
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/triagebot/x is not authorized to "
        "perform: ce:GetCostAndUsage",
    )
    fake_operation(session, "ce", "GetCostAndUsage", denied)

    digest = await build_digest(aws, None, seed.SENT_ON)

    assert digest.missing == (
        "Daily spend unavailable: add `ce:GetCostAndUsage` to the bot's IAM policy.",
        "Month to date unavailable: add `ce:GetCostAndUsage` to the bot's IAM policy.",
    )
    assert len(forecast_calls) == 1 and len(anomaly_calls) == 1
    assert digest.forecast is not None and digest.forecast.month_total is None
    assert digest.ce_requests == 2
    assert "Forecast: $5,600.12 forecast for the remaining 21 days" in digest_text(digest)
