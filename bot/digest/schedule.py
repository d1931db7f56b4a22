"""When the daily digest and the shift hand-over are due: pure decisions from the cron, the
zone, the clock and the store (``bot.digest.slots`` acts on them).

The digest for local date D (the morning it goes out; it reports D - 1) is scheduled at the
cron's first fire time on D in the configured zone, as APScheduler computes it, so daylight
saving is handled by APScheduler's rules: on a spring-forward day a time that does not exist
(02:30 in Europe/Berlin on 2026-03-29) fires at the same instant one hour later on the wall
clock (03:30 CEST); on a fall-back day a time that exists twice fires at its first occurrence.

It is due while ``fire ≤ now ≤ fire + GRACE`` and D was not posted yet. A server that was down
at the scheduled time and starts within the grace window posts it once; one that starts later
posts nothing for D (a stale digest is noise). The store, never APScheduler's memory, says what
was posted: ``LAST_POSTED`` holds the last posted D.

The hand-over goes out at every fire time of its cron (a shift change); its slot is that
instant, due while ``fire ≤ now ≤ fire + GRACE`` and later than the last one posted.

A slot (``Slot``) names what the store keeps about it: ``digest:D`` and ``handover:<instant>``.

Attempts. Each attempt at a slot (here D's digest) is claimed with ``Store.claim_once``
under its own key (``digest:D`` for the first, ``digest:D#2`` … for retries), so exactly one
process makes each attempt. Only the winner of an attempt writes the slot's ``Attempts``
record: at once (``started``, so that a process that dies mid-post is taken over after
``Timings.digest_post_deadline``) and again if it fails (``failed``, so the next attempt may
start after ``Timings.digest_retry_after``). Claims are never released; "releasing" a failed
attempt means pointing the record at the next attempt's fresh key.

Arithmetic and comparisons are done in UTC: Python compares and adds datetimes that share a
tzinfo by their wall-clock fields, ignoring ``fold``, which is wrong across a fall-back hour.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.errors import ConfigError
from bot.timings import DEFAULTS

GRACE = timedelta(hours=3)  # how late a missed digest may still go out
MAX_ATTEMPTS = 6  # per day

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC_WEEKDAYS = re.compile(r"^[0-7*,/\-]+$")


def _cron_weekdays(field: str) -> str:
    """Standard cron weekdays (0 or 7 = Sunday) as day names, which APScheduler 3 reads right.

    APScheduler 3's ``day_of_week`` counts 0 as Monday, so ``1-5`` would mean Tuesday to
    Saturday; names avoid that. ``*`` and fields already written with names are left alone.
    """
    if field == "*" or not _NUMERIC_WEEKDAYS.match(field):
        return field
    days: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = 0, 6
        else:
            low, _, high = span.partition("-")
            first = int(low)
            last = int(high) if high else (6 if step_text else first)
        if step < 1 or first > last or last > 7:
            raise ValueError(f"bad day of week {item!r}")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_CRON_DAYS[day] for day in sorted(days))


def cron_trigger(cron: str, timezone: str, section: str = "digest") -> CronTrigger:
    """The APScheduler trigger for a five-field cron in an IANA zone; ConfigError if invalid
    (naming ``section``'s cron)."""
    fields = cron.split()
    if len(fields) != 5:
        raise ConfigError(
            f"{section}.cron {cron!r}: needs five fields (minute hour day month weekday)"
        )
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_cron_weekdays(weekday),
            timezone=ZoneInfo(timezone),
        )
    except ValueError as exc:
        raise ConfigError(f"{section}.cron {cron!r}: {exc}") from exc


def local_today(timezone: str, now: datetime) -> date:
    """The date it is in ``timezone`` at the instant ``now``."""
    return now.astimezone(ZoneInfo(timezone)).date()


def fire_time(trigger: CronTrigger, day: date) -> datetime | None:
    """The instant (UTC) the digest for local ``day`` is scheduled, or None if the cron skips
    that day. The first fire time of the day counts; later ones the same day do not."""
    zone = trigger.timezone
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    fire: datetime | None = trigger.get_next_fire_time(None, midnight)
    if fire is None or fire.date() != day:
        return None
    return fire.astimezone(UTC)


def due_date(
    trigger: CronTrigger,
    now: datetime,
    last_posted: date | None,
    grace: timedelta = GRACE,
) -> date | None:
    """The local date whose digest is due at ``now``, if any.

    Today is looked at first, then yesterday (whose grace window may reach past midnight).
    """
    now = now.astimezone(UTC)
    today = now.astimezone(trigger.timezone).date()
    for day in (today, today - timedelta(days=1)):
        if last_posted is not None and day <= last_posted:
            continue
        fire = fire_time(trigger, day)
        if fire is not None and fire <= now <= fire + grace:
            return day
    return None


def fires_between(trigger: CronTrigger, since: datetime, until: datetime) -> Iterator[datetime]:
    """The cron's fire times (UTC) from ``since`` to ``until``, both included, in order."""
    until = until.astimezone(UTC)
    fire: datetime | None = trigger.get_next_fire_time(None, since.astimezone(UTC))
    while fire is not None and fire <= until:
        yield fire.astimezone(UTC)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))


def due_shift(
    trigger: CronTrigger, now: datetime, last_posted: str | None, grace: timedelta = GRACE
) -> Slot | None:
    """The hand-over due at ``now``: the latest fire time in the last ``grace``, unless the
    last one posted (``last_posted``, a UTC instant as ``Slot.id`` holds it) is that or later."""
    fires = list(fires_between(trigger, now - grace, now))
    if not fires:
        return None
    slot = shift_slot(fires[-1])
    if last_posted is not None and last_posted >= slot.id:
        return None
    return slot


def shift_start(trigger: CronTrigger, change: datetime, longest: timedelta) -> datetime:
    """When the shift that ends at ``change`` began: the fire time before it, at most
    ``longest`` before."""
    start = change - longest
    for fire in fires_between(trigger, start, change - timedelta(seconds=1)):
        start = fire
    return start


def shift_slot(fire: datetime) -> Slot:
    """The hand-over slot of the shift change at ``fire``."""
    return Slot("handover", fire.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def shift_change(slot: Slot) -> datetime:
    """The instant of a hand-over slot."""
    return datetime.strptime(slot.id, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def parse_last_posted(value: str | None) -> date | None:
    """``LAST_POSTED`` as stored (an ISO date), or None when nothing was posted or it is bad."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Slot:
    """One thing to post once: its ``kind`` (``digest``, ``handover``) and which one (``id``:
    an ISO date, a UTC instant; ids of one kind sort in time order)."""

    kind: str
    id: str

    @property
    def claim_base(self) -> str:
        """The ``claim_once`` key of the first attempt: ``digest:D``."""
        return f"{self.kind}:{self.id}"

    @property
    def attempts_key(self) -> str:
        """The schedule key of the slot's ``Attempts`` record."""
        return f"{self.kind}:attempts:{self.id}"

    @staticmethod
    def last_key(kind: str) -> str:
        """The schedule key holding the id of the last slot of ``kind`` posted."""
        return f"{kind}:last"


LAST_POSTED = Slot.last_key("digest")  # schedule key: ISO date of the last digest posted


def digest_slot(day: date) -> Slot:
    return Slot("digest", day.isoformat())


def attempts_key(day: date) -> str:
    """The schedule key of ``day``'s digest ``Attempts`` record."""
    return digest_slot(day).attempts_key


@dataclass(frozen=True)
class Attempts:
    """How far the attempts at one day's digest got: the next attempt's number (0 = none made
    yet), the instant before which it must not start, and who is making the one started
    (``host:pid``; when its heartbeat stops, the next may start at once)."""

    next: int = 0
    not_before: datetime | None = None
    owner: str = ""

    def claim_key(self, slot: Slot) -> str:
        """The ``claim_once`` key of the next attempt: ``digest:D``, then ``digest:D#2``, …"""
        base = slot.claim_base
        return base if self.next == 0 else f"{base}#{self.next + 1}"

    def may_start(self, now: datetime) -> bool:
        if self.next >= MAX_ATTEMPTS:
            return False
        return self.not_before is None or now.astimezone(UTC) >= self.not_before

    def started(
        self, now: datetime, deadline: timedelta = DEFAULTS.digest_post_deadline, owner: str = ""
    ) -> Attempts:
        """What the winner of this attempt records before it builds the digest: an attempt
        not finished after ``deadline`` (or whose ``owner`` is gone) is taken over."""
        return Attempts(self.next + 1, now.astimezone(UTC) + deadline, owner)

    def failed(
        self, now: datetime, retry_after: timedelta = DEFAULTS.digest_retry_after
    ) -> Attempts:
        """What the winner of this attempt records when it could not post."""
        return Attempts(self.next + 1, now.astimezone(UTC) + retry_after)

    def encode(self) -> str:
        not_before = self.not_before.isoformat() if self.not_before else None
        return json.dumps({"next": self.next, "not_before": not_before, "owner": self.owner})

    @classmethod
    def decode(cls, value: str | None) -> Attempts:
        """The record as stored; a missing or unreadable one means no attempt was made."""
        if not value:
            return cls()
        try:
            data = json.loads(value)
            not_before = data.get("not_before")
            return cls(
                int(data["next"]),
                datetime.fromisoformat(not_before).astimezone(UTC) if not_before else None,
                str(data.get("owner") or ""),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()
