"""Which days a digest covers, across month ends."""

from __future__ import annotations

from datetime import date

from bot.digest.periods import DigestPeriods


def test_a_digest_in_the_middle_of_the_month() -> None:
    p = DigestPeriods(date(2025, 3, 11))
    assert p.report_date == date(2025, 3, 10)
    assert p.window_start == date(2025, 2, 25)  # 14 days, the reported day included
    assert (p.month_start, p.month_end) == (date(2025, 3, 1), date(2025, 4, 1))
    assert (p.last_month_start, p.last_month_same_days_end) == (date(2025, 2, 1), date(2025, 2, 11))
    assert p.forecast_needed


def test_the_first_of_the_month_reports_the_whole_previous_month() -> None:
    p = DigestPeriods(date(2025, 3, 1))
    assert p.report_date == date(2025, 2, 28)
    assert (p.month_start, p.month_end) == (date(2025, 2, 1), date(2025, 3, 1))
    assert (p.last_month_start, p.last_month_same_days_end) == (date(2025, 1, 1), date(2025, 1, 29))
    assert not p.forecast_needed


def test_same_days_of_a_shorter_last_month_stop_at_its_end() -> None:
    p = DigestPeriods(date(2025, 3, 31))  # reports March 30; February has 28 days
    assert p.last_month_same_days_end == date(2025, 3, 1)
    assert p.forecast_needed  # March 31 is still to come


def test_january_compares_with_december() -> None:
    p = DigestPeriods(date(2025, 1, 16))
    assert p.last_month_start == date(2024, 12, 1)
    assert p.last_month_same_days_end == date(2024, 12, 16)
    assert p.window_start == date(2025, 1, 2)
