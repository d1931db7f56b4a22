"""The cost digest as plain data: what ``build_digest`` finds and the renderers and chart read.

Money is ``Decimal`` (Cost Explorer sends amounts as strings) in the digest's ``currency``.
A section that could not be read is ``None`` / empty, and ``missing`` says why, one line each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class CostLine:
    """One thing's cost on the reported day, the day before, and the difference."""

    name: str
    cost: Decimal
    previous: Decimal
    change: Decimal


@dataclass(frozen=True)
class ServiceCost(CostLine):
    """An AWS service, named as Cost Explorer names it ("Amazon Simple Storage Service")."""


@dataclass(frozen=True)
class TagCost(CostLine):
    """A value of the digest's cost-allocation tag; ``name`` is "untagged" for no value."""


@dataclass(frozen=True)
class DayCosts:
    """One day's cost per service, for the chart."""

    day: date
    by_service: tuple[tuple[str, Decimal], ...]

    @property
    def total(self) -> Decimal:
        return sum((amount for _, amount in self.by_service), Decimal(0))


@dataclass(frozen=True)
class Forecast:
    """Where the month is heading: actual spend so far plus Cost Explorer's forecast of the rest."""

    month_total: Decimal | None  # None when month to date could not be read
    remaining: Decimal  # forecast for [start, end)
    start: date
    end: date  # exclusive: the first day of the next month


@dataclass(frozen=True)
class RootCause:
    """Where an anomaly's spend came from, as far as Cost Anomaly Detection can tell."""

    service: str = ""
    region: str = ""
    account: str = ""
    usage_type: str = ""
    contribution: float | None = None  # in the digest currency

    @property
    def label(self) -> str:
        parts = [self.service, self.usage_type, self.region]
        if self.account:
            parts.append(f"account {self.account}")
        return ", ".join(p for p in parts if p) or "unknown"


@dataclass(frozen=True)
class Anomaly:
    """An open cost anomaly from Cost Anomaly Detection."""

    anomaly_id: str
    start: str  # dates as AWS gives them ("2025-03-01"); they may carry a time
    end: str
    dimension: str  # what the monitor watches, e.g. a service name
    total_impact: float
    impact_percent: float | None
    root_causes: tuple[RootCause, ...]


@dataclass(frozen=True)
class BudgetStatus:
    """An AWS Budgets cost budget at or over 80 % of its limit."""

    name: str
    limit: Decimal
    actual: Decimal
    forecasted: Decimal | None
    unit: str
    time_unit: str  # DAILY, MONTHLY, QUARTERLY, ANNUALLY

    @property
    def percent(self) -> float:
        return float(self.actual / self.limit * 100) if self.limit else 0.0


@dataclass(frozen=True)
class Digest:
    """The daily cost digest for ``report_date`` (the day before the morning it goes out)."""

    report_date: date
    currency: str
    total: Decimal | None
    previous_total: Decimal | None
    avg_7d: Decimal | None  # mean of the 7 days before report_date
    services: tuple[ServiceCost, ...]  # the top services by cost, biggest movers first
    mtd: Decimal | None  # first of the month through report_date
    mtd_last_month: Decimal | None  # the same days of the month before
    forecast: Forecast | None
    anomalies: tuple[Anomaly, ...]
    budgets: tuple[BudgetStatus, ...]
    tag_groups: tuple[TagCost, ...]
    daily_series: tuple[DayCosts, ...]  # the last 14 days, oldest first
    missing: tuple[str, ...]  # one line per section that could not be read, with the fix
    ce_requests: int  # Cost Explorer requests made, pages included
    tag_key: str = ""  # the cost-allocation tag that tag_groups are grouped by
    estimated: bool = False  # Cost Explorer marked the reported day as estimated

    @property
    def ce_cost_usd(self) -> Decimal:
        """What building this digest cost: Cost Explorer charges USD 0.01 per request."""
        return Decimal("0.01") * self.ce_requests
