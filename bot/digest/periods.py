"""The date ranges one digest covers, worked out once from the morning it goes out.

Cost Explorer periods are ``[start, end)``: the end date is not included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

WINDOW_DAYS = 14  # the daily query and the chart
AVERAGE_DAYS = 7  # the baseline the reported day is compared with


def _first_of_next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class DigestPeriods:
    """Every range the digest reads, for the digest sent on the morning of ``sent_on``."""

    sent_on: date

    @property
    def report_date(self) -> date:
        """The day the digest reports: the day before it goes out."""
        return self.sent_on - timedelta(days=1)

    @property
    def window_start(self) -> date:
        """First day of the 14-day daily window, which ends with the reported day."""
        return self.report_date - timedelta(days=WINDOW_DAYS - 1)

    @property
    def month_start(self) -> date:
        return self.report_date.replace(day=1)

    @property
    def month_end(self) -> date:
        """The first day of the next month (exclusive end of the reported month)."""
        return _first_of_next_month(self.report_date)

    @property
    def last_month_start(self) -> date:
        return (self.month_start - timedelta(days=1)).replace(day=1)

    @property
    def last_month_same_days_end(self) -> date:
        """Exclusive end of "the same days of last month", cut at that month's last day."""
        same = self.last_month_start + timedelta(days=self.report_date.day)
        return min(same, self.month_start)

    @property
    def forecast_needed(self) -> bool:
        """False when the reported day closes its month: nothing is left to forecast."""
        return self.sent_on < self.month_end


def iso(day: date) -> str:
    return day.isoformat()
