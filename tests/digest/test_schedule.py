"""When the digest is due: Europe/Berlin across both daylight-saving changes, restarts, grace."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.digest.schedule import (
    GRACE,
    MAX_ATTEMPTS,
    Attempts,
    cron_trigger,
    digest_slot,
    due_date,
    due_shift,
    fire_time,
    parse_last_posted,
    shift_change,
    shift_slot,
    shift_start,
)
from bot.errors import ConfigError
from bot.timings import DEFAULTS

BERLIN = ZoneInfo("Europe/Berlin")
RETRY_AFTER = DEFAULTS.digest_retry_after
POST_DEADLINE = DEFAULTS.digest_post_deadline
SPRING = date(2026, 3, 29)  # 02:00 CET → 03:00 CEST
AUTUMN = date(2026, 10, 25)  # 03:00 CEST → 02:00 CET
NINE = cron_trigger("0 9 * * *", "Europe/Berlin")
HALF_TWO = cron_trigger("30 2 * * *", "Europe/Berlin")


def berlin(day: date, hour: int, minute: int = 0, *, fold: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN, fold=fold)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_nine_o_clock_is_nine_local_time_on_both_sides_of_each_change() -> None:
    assert fire_time(NINE, SPRING - timedelta(days=1)) == utc("2026-03-28T08:00")  # CET
    assert fire_time(NINE, SPRING) == utc("2026-03-29T07:00")  # CEST
    assert fire_time(NINE, AUTUMN - timedelta(days=1)) == utc("2026-10-24T07:00")  # CEST
    assert fire_time(NINE, AUTUMN) == utc("2026-10-25T08:00")  # CET


def test_a_time_that_does_not_exist_fires_once_an_hour_later_on_the_wall_clock() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin: the digest goes out at 03:30 CEST
    fire = fire_time(HALF_TWO, SPRING)
    assert fire == utc("2026-03-29T01:30")
    assert fire is not None and fire.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"
    assert due_date(HALF_TWO, berlin(SPRING, 1, 59), date(2026, 3, 28)) is None
    assert due_date(HALF_TWO, utc("2026-03-29T01:30"), date(2026, 3, 28)) == SPRING


def test_a_time_that_exists_twice_fires_at_its_first_occurrence_only() -> None:
    first = utc("2026-10-25T00:30")  # 02:30 CEST
    assert fire_time(HALF_TWO, AUTUMN) == first
    assert due_date(HALF_TWO, first - timedelta(minutes=1), date(2026, 10, 24)) is None
    assert due_date(HALF_TWO, first, date(2026, 10, 24)) == AUTUMN
    # once posted, the second 02:30 (CET, an hour later) is not another digest
    second = berlin(AUTUMN, 2, 30, fold=1)
    assert second.astimezone(UTC) == utc("2026-10-25T01:30")
    assert due_date(HALF_TWO, second, AUTUMN) is None


def test_the_repeated_hour_is_compared_as_real_time_not_as_wall_clock() -> None:
    # 02:10 CET (the second 02:10) is 40 minutes after the 02:30 CEST fire time, although its
    # wall clock reads earlier; a comparison of wall clocks would call it "not yet"
    after = berlin(AUTUMN, 2, 10, fold=1)
    assert due_date(HALF_TWO, after, date(2026, 10, 24)) == AUTUMN
    # and the grace window is three real hours, although the wall clock moves back one hour:
    # 02:30 CEST + 3 h = 04:30 CET
    assert due_date(HALF_TWO, berlin(AUTUMN, 4, 29), date(2026, 10, 24)) == AUTUMN
    assert due_date(HALF_TWO, berlin(AUTUMN, 4, 31), date(2026, 10, 24)) is None


@pytest.mark.parametrize("day", [SPRING, AUTUMN])
def test_exactly_one_digest_on_each_day_of_a_change_minute_by_minute(day: date) -> None:
    for trigger in (NINE, HALF_TWO):
        now = datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=BERLIN)
        end = now + timedelta(days=3)
        last: date | None = day - timedelta(days=2)
        posted: list[tuple[date, datetime]] = []
        now = now.astimezone(UTC)
        while now < end:
            due = due_date(trigger, now, last)
            if due is not None:
                posted.append((due, now))
                last = due
            now += timedelta(minutes=1)
        assert [d for d, _ in posted] == [day - timedelta(days=1), day, day + timedelta(days=1)]
        for d, when in posted:
            assert when == fire_time(trigger, d)  # on time, not late


def test_restart_before_the_scheduled_time_waits_for_it() -> None:
    yesterday = date(2026, 11, 19)
    assert due_date(NINE, berlin(date(2026, 11, 20), 8, 59), yesterday) is None
    assert due_date(NINE, berlin(date(2026, 11, 20), 9, 0), yesterday) == date(2026, 11, 20)


def test_restart_after_the_scheduled_time_within_grace_posts_once() -> None:
    day = date(2026, 11, 20)
    assert due_date(NINE, berlin(day, 9, 20), date(2026, 11, 19)) == day
    assert due_date(NINE, berlin(day, 9, 21), day) is None  # posted: not again
    assert due_date(NINE, berlin(day, 9, 0) + GRACE, date(2026, 11, 19)) == day
    assert due_date(NINE, berlin(day, 12, 1), date(2026, 11, 19)) is None  # too late: stale


def test_a_server_started_the_next_day_posts_no_stale_digest() -> None:
    # down from before 09:00 on the 20th until 08:00 on the 21st: the 20th's is never posted
    assert due_date(NINE, berlin(date(2026, 11, 21), 8, 0), date(2026, 11, 19)) is None
    assert due_date(NINE, berlin(date(2026, 11, 21), 9, 5), date(2026, 11, 19)) == date(
        2026, 11, 21
    )


def test_grace_reaches_past_midnight_for_a_late_cron() -> None:
    late = cron_trigger("30 23 * * *", "Europe/Berlin")
    day = date(2026, 11, 20)
    assert due_date(late, berlin(date(2026, 11, 21), 1, 0), date(2026, 11, 19)) == day


def test_cron_weekdays_count_from_sunday_as_cron_does() -> None:
    weekdays = cron_trigger("0 9 * * 1-5", "Europe/Berlin")
    # 2026-11-21 is a Saturday, 2026-11-22 a Sunday, 2026-11-23 a Monday
    assert fire_time(weekdays, date(2026, 11, 20)) is not None
    assert fire_time(weekdays, date(2026, 11, 21)) is None
    assert fire_time(weekdays, date(2026, 11, 22)) is None
    assert fire_time(weekdays, date(2026, 11, 23)) is not None
    sundays = cron_trigger("0 9 * * 0", "UTC")
    assert fire_time(sundays, date(2026, 11, 22)) == utc("2026-11-22T09:00")
    assert fire_time(cron_trigger("0 9 * * 7", "UTC"), date(2026, 11, 22)) is not None
    every_other = cron_trigger("0 9 * * */2", "UTC")  # Sun, Tue, Thu, Sat
    assert [fire_time(every_other, date(2026, 11, d)) is not None for d in range(22, 29)] == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
    ]
    named = cron_trigger("0 9 * * mon-fri", "UTC")
    assert fire_time(named, date(2026, 11, 21)) is None


def test_a_bad_cron_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="61 9"):
        cron_trigger("61 9 * * *", "UTC")
    with pytest.raises(ConfigError, match="five fields"):
        cron_trigger("0 9 * *", "UTC")


def test_last_posted_as_stored() -> None:
    assert parse_last_posted("2026-11-20") == date(2026, 11, 20)
    assert parse_last_posted(None) is None
    assert parse_last_posted("garbage") is None


def test_attempts_point_each_retry_at_a_fresh_claim_key() -> None:
    day = date(2026, 11, 20)
    now = utc("2026-11-20T08:00")
    first = Attempts.decode(None)
    assert first.claim_key(digest_slot(day)) == "digest:2026-11-20"
    assert first.may_start(now)
    started = Attempts.decode(first.started(now).encode())
    assert started.claim_key(digest_slot(day)) == "digest:2026-11-20#2"
    # in flight: nobody takes over until the deadline has passed
    assert not started.may_start(now + POST_DEADLINE - timedelta(seconds=1))
    assert started.may_start(now + POST_DEADLINE)
    failed = Attempts.decode(first.failed(now).encode())
    assert failed.claim_key(digest_slot(day)) == "digest:2026-11-20#2"
    assert not failed.may_start(now + RETRY_AFTER - timedelta(seconds=1))
    assert failed.may_start(now + RETRY_AFTER)
    spent = Attempts(MAX_ATTEMPTS, None)
    assert not spent.may_start(now + timedelta(hours=1))
    assert Attempts.decode("not json") == Attempts()


SHIFTS = cron_trigger("0 8,20 * * *", "Europe/Berlin")


def test_a_hand_over_is_due_at_each_shift_change_until_posted() -> None:
    morning = utc("2026-10-24T06:00")  # 08:00 CEST
    assert due_shift(SHIFTS, morning - timedelta(minutes=1), None) is None
    slot = due_shift(SHIFTS, morning + timedelta(minutes=5), None)
    assert slot == shift_slot(morning) and shift_change(slot) == morning
    assert due_shift(SHIFTS, morning + timedelta(minutes=5), slot.id) is None
    assert due_shift(SHIFTS, morning + GRACE + timedelta(minutes=1), None) is None  # stale
    evening = utc("2026-10-24T18:00")
    assert due_shift(SHIFTS, evening, slot.id) == shift_slot(evening)


def test_shift_changes_follow_the_wall_clock_across_daylight_saving() -> None:
    # 08:00 Berlin is 06:00 UTC in summer time and 07:00 UTC after the change on 2026-10-25
    after = utc("2026-10-25T07:00")
    assert due_shift(SHIFTS, after, shift_slot(utc("2026-10-24T18:00")).id) == shift_slot(after)
    assert shift_start(SHIFTS, after, timedelta(days=7)) == utc("2026-10-24T18:00")  # 13 h
    # a cron that fires once a week: the shift began a week before, at most ``longest``
    weekly = cron_trigger("0 9 * * 1", "Europe/Berlin")
    monday = utc("2026-11-23T08:00")
    assert shift_start(weekly, monday, timedelta(days=7)) == utc("2026-11-16T08:00")
    assert shift_start(weekly, monday, timedelta(days=2)) == monday - timedelta(days=2)
