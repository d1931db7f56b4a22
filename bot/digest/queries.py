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
from collections.abc import Awaitable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from bot.aws import AwsClients, CallStats
from bot.config import DigestSettings
from bot.digest.alerts import BILLING, MAX_PAGES, budgets_near_limit, open_anomalies
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
from bot.digest.model import Digest
from bot.digest.periods import DigestPeriods, iso
from bot.digest.summary import DailyCosts, MonthToDate, Readings, summarise
from bot.errors import StepError

METRIC = "UnblendedCost"
UNTAGGED = "untagged"
_ZERO = Decimal(0)

T = TypeVar("T")


async def build_digest(
    aws: AwsClients, settings: DigestSettings | None, report_for: date
) -> Digest:
    """The digest that goes out on the morning of ``report_for``: it reports the day before."""
    periods = DigestPeriods(report_for)
    tag_key = settings.group_by_tag.strip() if settings else ""
    stats = CallStats()  # Cost Explorer requests only: those are the ones AWS charges for
    missing: list[str] = []

    daily = await _attempt(_daily_costs(aws, stats, periods, tag_key))
    if isinstance(daily, StepError) and cost_explorer_disabled(daily):
        # Everything else from Cost Explorer would fail the same way: don't pay to find out.
        missing.append(missing_line(DAILY, daily))
        missing += [not_enabled_line(s) for s in (MONTH_TO_DATE, FORECAST, ANOMALIES)]
        budgets = await _attempt(budgets_near_limit(aws))
        _note(budgets, BUDGETS, missing)
        read = Readings(budgets=_ok(budgets, ()), missing=tuple(missing), tag_key=tag_key)
        return summarise(periods, read)

    forecast_call: Awaitable[tuple[Decimal, str] | None] = (
        _forecast(aws, stats, periods) if periods.forecast_needed else _none()
    )
    month, forecast, anomalies, budgets = await asyncio.gather(
        _attempt(_month_to_date(aws, stats, periods)),
        _attempt(forecast_call),
        _attempt(open_anomalies(aws, stats, periods)),
        _attempt(budgets_near_limit(aws)),
    )
    for result, section in (
        (daily, DAILY),
        (month, MONTH_TO_DATE),
        (forecast, FORECAST),
        (anomalies, ANOMALIES),
        (budgets, BUDGETS),
    ):
        _note(result, section, missing)
    read = Readings(
        daily=_ok(daily, None),
        month=_ok(month, None),
        forecast=_ok(forecast, None),
        anomalies=_ok(anomalies, ()),
        budgets=_ok(budgets, ()),
        missing=tuple(missing),
        ce_requests=stats.attempts,
        tag_key=tag_key,
    )
    return summarise(periods, read)


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
) -> DailyCosts:
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
    daily = DailyCosts()
    for page in pages:
        for period in page.get("ResultsByTime", []):
            day = date.fromisoformat(period["TimePeriod"]["Start"][:10])
            if period.get("Estimated"):
                daily.estimated.add(day)
            for group in period.get("Groups", []):
                amount, unit = _amount(group.get("Metrics", {}))
                daily.currency = daily.currency or unit
                keys = group.get("Keys", [])
                tag = _tag_value(keys[1]) if tag_key and len(keys) > 1 else None
                daily.add(day, keys[0] if keys else "Unknown", tag, amount)
    return daily


async def _month_to_date(aws: AwsClients, stats: CallStats, periods: DigestPeriods) -> MonthToDate:
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
    return MonthToDate(this_month, last_month, currency)


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
