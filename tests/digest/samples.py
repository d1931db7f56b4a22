"""Digests built by hand, for tests of the renderers and the chart (no AWS involved)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bot.digest.model import DayCosts, Digest, Forecast, ServiceCost
from tests.digest import seed


def _d(value: float) -> Decimal:
    return Decimal(str(value))


def week_digest(**changes: Any) -> Digest:
    """The seeded bill of tests/digest/seed.py as a Digest; ``changes`` override fields."""
    days = [seed.REPORTED - timedelta(days=n) for n in range(13, -1, -1)]
    series = tuple(
        DayCosts(day, tuple(sorted((k, _d(v)) for k, v in seed.service_costs(day).items())))
        for day in days
    )
    today, before = seed.service_costs(seed.REPORTED), seed.service_costs(days[-2])
    services = tuple(
        ServiceCost(name, _d(today[name]), _d(before[name]), _d(today[name] - before[name]))
        for name in (seed.LAMBDA, seed.EC2, seed.S3, seed.RDS)
    )
    digest = Digest(
        report_date=seed.REPORTED,
        currency="USD",
        total=Decimal("297.25"),
        previous_total=Decimal("234.75"),
        avg_7d=Decimal("237.75"),
        services=services,
        mtd=Decimal("2431.00"),
        mtd_last_month=Decimal("2000.00"),
        forecast=Forecast(Decimal("8031.12"), Decimal("5600.12"), seed.SENT_ON, date(2025, 4, 1)),
        anomalies=(),
        budgets=(),
        tag_groups=(),
        daily_series=series,
        missing=(),
        ce_requests=4,
    )
    return replace(digest, **changes)
