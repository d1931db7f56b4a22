"""Turn what the queries read into a Digest: totals, averages, top movers, tags, the series."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from bot.digest.model import (
    Anomaly,
    BudgetStatus,
    CostLine,
    DayCosts,
    Digest,
    Forecast,
    ServiceCost,
    TagCost,
)
from bot.digest.periods import AVERAGE_DAYS, WINDOW_DAYS, DigestPeriods

TOP_SERVICES = 10
_ZERO = Decimal(0)

C = TypeVar("C", bound=CostLine)


@dataclass
class DailyCosts:
    """What the 14-day query holds: cost per day per service (and per tag value)."""

    services: dict[date, dict[str, Decimal]] = field(default_factory=lambda: defaultdict(dict))
    tags: dict[date, dict[str, Decimal]] = field(default_factory=lambda: defaultdict(dict))
    currency: str = ""
    estimated: set[date] = field(default_factory=set)

    def add(self, day: date, service: str, tag: str | None, amount: Decimal) -> None:
        services = self.services[day]
        services[service] = services.get(service, _ZERO) + amount
        if tag is not None:
            tags = self.tags[day]
            tags[tag] = tags.get(tag, _ZERO) + amount

    def day_total(self, day: date) -> Decimal:
        return sum(self.services.get(day, {}).values(), _ZERO)


@dataclass(frozen=True)
class MonthToDate:
    this_month: Decimal
    same_days_last_month: Decimal
    currency: str


@dataclass(frozen=True)
class Readings:
    """Everything the digest read; None or empty where a section could not be read."""

    daily: DailyCosts | None = None
    month: MonthToDate | None = None
    forecast: tuple[Decimal, str] | None = None  # amount for the rest of the month, unit
    anomalies: tuple[Anomaly, ...] = ()
    budgets: tuple[BudgetStatus, ...] = ()
    missing: tuple[str, ...] = ()
    ce_requests: int = 0
    tag_key: str = ""


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


def summarise(periods: DigestPeriods, read: Readings) -> Digest:
    """The digest for ``periods`` from what was read."""
    daily, month, forecast, tag_key = read.daily, read.month, read.forecast, read.tag_key
    day = periods.report_date
    before = day - timedelta(days=1)
    units = (
        daily.currency if daily else "",
        month.currency if month else "",
        forecast[1] if forecast else "",
    )
    currency = next((unit for unit in units if unit), "USD")
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
            month_total=(month.this_month + remaining) if month else None,
            remaining=remaining,
            start=periods.sent_on,
            end=periods.month_end,
        )
    return Digest(
        report_date=day,
        currency=currency,
        total=total,
        previous_total=previous,
        avg_7d=avg,
        services=services,
        mtd=month.this_month if month else None,
        mtd_last_month=month.same_days_last_month if month else None,
        forecast=projected,
        anomalies=read.anomalies,
        budgets=read.budgets,
        tag_groups=tags,
        daily_series=series,
        missing=read.missing,
        ce_requests=read.ce_requests,
        tag_key=tag_key,
        estimated=daily is not None and day in daily.estimated,
    )
