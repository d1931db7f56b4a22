"""Build the daily cost digest from Cost Explorer, Cost Anomaly Detection and AWS Budgets.

Cost Explorer charges USD 0.01 per request (every page counts), so the digest reads it with as
few requests as it can: one daily query over 14 days grouped by service (and by the
cost-allocation tag, when configured) gives yesterday, the day before, the 7-day average, the
top movers, the tag breakdown and the chart; one ungrouped daily query gives month to date and
the same days of last month; then one forecast and one anomalies request. Every section that
cannot be read becomes a line in ``Digest.missing`` instead of an error.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from bot.aws import AwsClients, CallStats, Target
from bot.config import DigestSettings
from bot.digest.failures import (
    ANOMALIES,
    BUDGETS,
    DAILY,
    FORECAST,
    MONTH_TO_DATE,
    Section,
    cost_explorer_disabled,
    missing_line,
    not_enabled_line,
)
from bot.digest.model import (
    Anomaly,
    BudgetStatus,
    CostLine,
    DayCosts,
    Digest,
    Forecast,
    RootCause,
    ServiceCost,
    TagCost,
)
from bot.digest.periods import AVERAGE_DAYS, WINDOW_DAYS, DigestPeriods, iso
from bot.errors import StepError

# Cost Explorer and AWS Budgets answer only at their us-east-1 endpoint.
BILLING = Target(region="us-east-1")
METRIC = "UnblendedCost"
TOP_SERVICES = 10
BUDGET_ALERT_PERCENT = 80
MAX_PAGES = 5  # per query; a runaway pagination would cost money
UNTAGGED = "untagged"
_ZERO = Decimal(0)
_DISMISSED = {"NO", "PLANNED_ACTIVITY"}  # anomaly feedback that closes it

T = TypeVar("T")
C = TypeVar("C", bound=CostLine)


@dataclass
class _Daily:
    """What the 14-day query holds: cost per day per service (and per tag value)."""

    services: dict[date, dict[str, Decimal]] = field(default_factory=lambda: defaultdict(dict))
    tags: dict[date, dict[str, Decimal]] = field(default_factory=lambda: defaultdict(dict))
    currency: str = ""
    estimated: set[date] = field(default_factory=set)

    def day_total(self, day: date) -> Decimal:
        return sum(self.services.get(day, {}).values(), _ZERO)


async def build_digest(
    aws: AwsClients, settings: DigestSettings | None, report_for: date
) -> Digest:
    """The digest that goes out on the morning of ``report_for``: it reports the day before."""
    periods = DigestPeriods(report_for)
    tag_key = settings.group_by_tag.strip() if settings else ""
    stats = CallStats()  # Cost Explorer requests only: those are the ones AWS charges for
    missing: list[str] = []

    daily = await _attempt(_daily_costs(aws, stats, periods, tag_key))
    if isinstance(daily, StepError):
        missing.append(missing_line(DAILY, daily))
        if cost_explorer_disabled(daily):
            missing += [not_enabled_line(s) for s in (MONTH_TO_DATE, FORECAST, ANOMALIES)]
            budgets = await _attempt(_budgets(aws))
            _note(budgets, BUDGETS, missing)
            return _assemble(
                periods, None, None, None, (), _ok(budgets, ()), missing, stats, tag_key
            )

    forecast_call: Awaitable[tuple[Decimal, str] | None] = (
        _forecast(aws, stats, periods) if periods.forecast_needed else _none()
    )
    mtd, forecast, anomalies, budgets = await asyncio.gather(
        _attempt(_month_to_date(aws, stats, periods)),
        _attempt(forecast_call),
        _attempt(_anomalies(aws, stats, periods)),
        _attempt(_budgets(aws)),
    )
    for result, section in (
        (mtd, MONTH_TO_DATE),
        (forecast, FORECAST),
        (anomalies, ANOMALIES),
        (budgets, BUDGETS),
    ):
        _note(result, section, missing)
    return _assemble(
        periods,
        _ok(daily, None),
        _ok(mtd, None),
        _ok(forecast, None),
        _ok(anomalies, ()),
        _ok(budgets, ()),
        missing,
        stats,
        tag_key,
    )


async def _attempt(call: Awaitable[T]) -> T | StepError:
    """The call's result, or the StepError it raised (so one section never sinks the rest)."""
    try:
        return await call
    except StepError as exc:
        return exc


def _ok(result: T | StepError, default: T) -> T:
    return default if isinstance(result, StepError) else result


def _note(result: object, section: Section, missing: list[str]) -> None:
    if isinstance(result, StepError):
        missing.append(missing_line(section, result))


async def _none() -> None:
    return None


def _amount(metrics: Mapping[str, Any]) -> tuple[Decimal, str]:
    value = metrics.get(METRIC) or {}
    return Decimal(str(value.get("Amount") or "0")), str(value.get("Unit") or "")


def _tag_value(key: str) -> str:
    """``Environment$prod`` → ``prod``; ``Environment$`` (no value) → ``untagged``."""
    _, _, value = key.partition("$")
    return value or UNTAGGED


async def _cost_and_usage(
    aws: AwsClients, stats: CallStats, **request: Any
) -> list[dict[str, Any]]:
    """Every page of one GetCostAndUsage query (botocore has no paginator for it)."""
    pages: list[dict[str, Any]] = []
    args = dict(request)
    for _ in range(MAX_PAGES):
        page = await aws.call("ce", "get_cost_and_usage", BILLING, stats, **args)
        pages.append(page)
        token = page.get("NextPageToken")
        if not token:
            break
        args["NextPageToken"] = token
    return pages


async def _daily_costs(
    aws: AwsClients, stats: CallStats, periods: DigestPeriods, tag_key: str
) -> _Daily:
    group_by = [{"Type": "DIMENSION", "Key": "SERVICE"}]
    if tag_key:
        group_by.append({"Type": "TAG", "Key": tag_key})
    pages = await _cost_and_usage(
        aws,
        stats,
        TimePeriod={"Start": iso(periods.window_start), "End": iso(periods.sent_on)},
        Granularity="DAILY",
        Metrics=[METRIC],
        GroupBy=group_by,
    )
    daily = _Daily()
    for page in pages:
        for period in page.get("ResultsByTime", []):
            day = date.fromisoformat(period["TimePeriod"]["Start"][:10])
            if period.get("Estimated"):
                daily.estimated.add(day)
            services, tags = daily.services[day], daily.tags[day]
            for group in period.get("Groups", []):
                amount, unit = _amount(group.get("Metrics", {}))
                daily.currency = daily.currency or unit
                keys = group.get("Keys", [])
                service = keys[0] if keys else "Unknown"
                services[service] = services.get(service, _ZERO) + amount
                if tag_key and len(keys) > 1:
                    tag = _tag_value(keys[1])
                    tags[tag] = tags.get(tag, _ZERO) + amount
    return daily


async def _month_to_date(
    aws: AwsClients, stats: CallStats, periods: DigestPeriods
) -> tuple[Decimal, Decimal, str]:
    """Month to date and the same days of last month, from one ungrouped daily query."""
    pages = await _cost_and_usage(
        aws,
        stats,
        TimePeriod={"Start": iso(periods.last_month_start), "End": iso(periods.sent_on)},
        Granularity="DAILY",
        Metrics=[METRIC],
    )
    this_month, last_month, currency = _ZERO, _ZERO, ""
    for page in pages:
        for period in page.get("ResultsByTime", []):
            day = date.fromisoformat(period["TimePeriod"]["Start"][:10])
            total = period.get("Total") or {}
            amounts = [_amount(total)] if total else []
            amounts += [_amount(g.get("Metrics", {})) for g in period.get("Groups", [])]
            for amount, unit in amounts:
                currency = currency or unit
                if periods.month_start <= day < periods.sent_on:
                    this_month += amount
                elif periods.last_month_start <= day < periods.last_month_same_days_end:
                    last_month += amount
    return this_month, last_month, currency


async def _forecast(
    aws: AwsClients, stats: CallStats, periods: DigestPeriods
) -> tuple[Decimal, str]:
    """Cost Explorer's forecast from the morning the digest goes out to the month's end."""
    response = await aws.call(
        "ce",
        "get_cost_forecast",
        BILLING,
        stats,
        TimePeriod={"Start": iso(periods.sent_on), "End": iso(periods.month_end)},
        Metric="UNBLENDED_COST",
        Granularity="MONTHLY",
    )
    total = response.get("Total") or {}
    return Decimal(str(total.get("Amount") or "0")), str(total.get("Unit") or "")


async def _anomalies(
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


async def _budgets(aws: AwsClients) -> tuple[BudgetStatus, ...]:
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


def _lines(
    cls: type[C], today: Mapping[str, Decimal], before: Mapping[str, Decimal]
) -> Iterable[C]:
    for name in today.keys() | before.keys():
        cost, previous = today.get(name, _ZERO), before.get(name, _ZERO)
        if cost or previous:
            yield cls(name, cost, previous, cost - previous)


def _top_movers(
    today: Mapping[str, Decimal], before: Mapping[str, Decimal]
) -> tuple[ServiceCost, ...]:
    """The services that cost the most on either day, biggest day-over-day change first."""
    lines = list(_lines(ServiceCost, today, before))
    top = sorted(lines, key=lambda s: (-max(s.cost, s.previous), s.name))[:TOP_SERVICES]
    return tuple(sorted(top, key=lambda s: (-abs(s.change), -s.cost, s.name)))


def _assemble(
    periods: DigestPeriods,
    daily: _Daily | None,
    mtd: tuple[Decimal, Decimal, str] | None,
    forecast: tuple[Decimal, str] | None,
    anomalies: tuple[Anomaly, ...],
    budgets: tuple[BudgetStatus, ...],
    missing: list[str],
    stats: CallStats,
    tag_key: str,
) -> Digest:
    day = periods.report_date
    before = day - timedelta(days=1)
    currency = (daily and daily.currency) or (mtd and mtd[2]) or (forecast and forecast[1]) or ""
    total = previous = avg = None
    services: tuple[ServiceCost, ...] = ()
    tags: tuple[TagCost, ...] = ()
    series: tuple[DayCosts, ...] = ()
    if daily is not None:
        total, previous = daily.day_total(day), daily.day_total(before)
        week = [daily.day_total(before - timedelta(days=n)) for n in range(AVERAGE_DAYS)]
        avg = sum(week, _ZERO) / AVERAGE_DAYS
        services = _top_movers(daily.services.get(day, {}), daily.services.get(before, {}))
        if tag_key:
            lines = _lines(TagCost, daily.tags.get(day, {}), daily.tags.get(before, {}))
            tags = tuple(sorted(lines, key=lambda t: (-t.cost, t.name)))
        days = (periods.window_start + timedelta(days=n) for n in range(WINDOW_DAYS))
        series = tuple(DayCosts(d, tuple(sorted(daily.services.get(d, {}).items()))) for d in days)
    projected = None
    if forecast is not None:
        remaining = forecast[0]
        projected = Forecast(
            month_total=(mtd[0] + remaining) if mtd else None,
            remaining=remaining,
            start=periods.sent_on,
            end=periods.month_end,
        )
    return Digest(
        report_date=day,
        currency=currency or "USD",
        total=total,
        previous_total=previous,
        avg_7d=avg,
        services=services,
        mtd=mtd[0] if mtd else None,
        mtd_last_month=mtd[1] if mtd else None,
        forecast=projected,
        anomalies=anomalies,
        budgets=budgets,
        tag_groups=tags,
        daily_series=series,
        missing=tuple(missing),
        ce_requests=stats.attempts,
        tag_key=tag_key,
        estimated=daily is not None and day in daily.estimated,
    )
