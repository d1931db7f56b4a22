"""Posting something once per slot of a cron schedule, whichever process gets there first.

Both the daily digest (a slot is a local date) and the shift hand-over (a slot is one cron fire
time) run on this. APScheduler only wakes it up — at the cron time, once a minute, and once at
start-up — and each wake-up (a *tick*) asks ``due`` which slot, if any, is due from the state
kept in the store. Nothing depends on APScheduler's memory of missed runs, so a restart, a
daylight-saving change or several processes sharing one store post once per slot.

A tick that finds slot S due:

1. claims the next attempt at S with ``Store.claim_once`` (one process wins it) and records
   the attempt as started (``Attempts.started``);
2. reads the store again: if S was posted meanwhile, stops;
3. posts (``post``; None when it could not);
4. once Slack has the message, records S as posted (``Slot.last_key``), then runs the
   follow-up ``post`` returned (the digest's chart) — a failed follow-up is never a reason to
   post again;
5. if posting failed, records the attempt as failed, which points the next tick (in any
   process) at a fresh claim key after ``retry_after``, up to ``MAX_ATTEMPTS``.

A process that dies between 1 and 4 leaves the attempt "started"; another process takes over
after ``post_deadline``, or as soon as ``holder_gone`` says that process is gone (its
heartbeat, ``bot.replicas``, is a ``[store] lease`` old). The digest and the hand-over post
through the outbox with one delivery id per slot, so a take-over after Slack took the message
adopts it (the outbox looks for it by that id) rather than posting it twice, and a post Slack
did not take counts as posted at step 4: the outbox keeps it until Slack does. The one case
that posts nothing is a process that dies between winning the claim and recording the attempt
as started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.digest.schedule import GRACE, MAX_ATTEMPTS, Attempts, Slot
from bot.leases import HeldLeases
from bot.store.base import Store
from bot.timings import DEFAULTS

log = logging.getLogger(__name__)

TICK = timedelta(minutes=1)  # how often a tick asks whether a slot is due
STOP_TIMEOUT = timedelta(seconds=20)  # how long stop() waits for a post under way

FollowUp = Callable[[], Awaitable[None]]
# The slot due at ``now`` given the last one posted (as stored), if any.
Due = Callable[[datetime, str | None], Slot | None]
# Post the slot's message: a follow-up to run once it is recorded, or None when it failed.
Post = Callable[[Slot], Awaitable[FollowUp | None]]


async def _nothing() -> None:
    return None


NOTHING_MORE: FollowUp = _nothing  # what ``post`` returns when there is no follow-up


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Claims:
    """Who makes a process's attempts (``host:pid``) and how they are timed; one for every
    scheduled post of the process."""

    owner: str
    clock: Callable[[], datetime] = _utc_now
    tick_every: timedelta = TICK
    retry_after: timedelta = DEFAULTS.digest_retry_after  # after a failed attempt, the next
    post_deadline: timedelta = DEFAULTS.digest_post_deadline  # an unfinished one is taken over
    holder_gone: Callable[[str], Awaitable[bool]] | None = None  # ... or once its process is gone
    held: HeldLeases = field(default_factory=HeldLeases)  # an attempt, while it runs


class OncePerSlot:
    """The scheduler of one kind of post (``kind``: ``digest``, ``handover``)."""

    def __init__(
        self, kind: str, store: Store, *, trigger: CronTrigger, due: Due, post: Post, claims: Claims
    ) -> None:
        self._kind = kind
        self._store = store
        self._trigger = trigger
        self._due = due
        self._post = post
        self._claims = claims
        self._owner = claims.owner
        self._clock = claims.clock
        self._scheduler: AsyncIOScheduler | None = None
        self._tick_lock = asyncio.Lock()

    # lifecycle

    def start(self) -> None:
        """Start the scheduler: the cron, a tick every minute, and one tick right away."""
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(timezone=self._trigger.timezone)
        grace = int(GRACE.total_seconds())
        common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": grace}
        scheduler.add_job(self.tick, self._trigger, id=f"{self._kind}-cron", **common)
        scheduler.add_job(
            self.tick, IntervalTrigger(seconds=self._claims.tick_every.total_seconds()), **common
        )
        scheduler.add_job(self.tick, id=f"{self._kind}-startup", **common)  # no trigger: now
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self, timeout: timedelta = STOP_TIMEOUT) -> None:
        """Stop the scheduler, first letting a post under way finish (up to ``timeout``):
        cancelled mid-post, it would be left for another process to take over and, if Slack
        already had the message, posted twice."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None or not scheduler.running:
            return
        scheduler.pause()
        try:
            async with asyncio.timeout(timeout.total_seconds()), self._tick_lock:
                pass
        except TimeoutError:
            log.warning("stopping while the %s is still being posted", self._kind)
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    # the schedule

    async def tick(self) -> Slot | None:
        """Post if a slot is due and no process has; the slot posted, else None.

        Never raises: a failure is logged and the next tick tries again."""
        if self._tick_lock.locked():
            return None  # a tick of ours is already on it
        async with self._tick_lock:
            try:
                return await self._tick()
            except Exception:
                log.exception("%s scheduler: the check failed; trying again next tick", self._kind)
                return None

    async def _tick(self) -> Slot | None:
        store, now = self._store, self._clock()
        slot = self._due(now, await store.schedule_get(Slot.last_key(self._kind)))
        if slot is None:
            return None
        attempts = Attempts.decode(await store.schedule_get(slot.attempts_key))
        if not attempts.may_start(now) and not await self._abandoned(attempts):
            return None
        if not await store.claim_once(attempts.claim_key(slot), self._owner, now):
            return None  # another process has this attempt
        deadline = now + self._claims.post_deadline
        with self._claims.held.holding(slot.claim_base, now, deadline):
            return await self._attempt(slot, attempts, now)

    async def _attempt(self, slot: Slot, attempts: Attempts, now: datetime) -> Slot | None:
        """The attempt at ``slot`` once its claim is won: steps 1 to 5 of the module docstring."""
        store = self._store
        started = attempts.started(now, self._claims.post_deadline, self._owner)
        await store.schedule_set(slot.attempts_key, started.encode())
        if self._due(now, await store.schedule_get(Slot.last_key(self._kind))) != slot:
            return None  # posted by another process while we were deciding
        follow_up = await self._post(slot)
        if follow_up is None:
            failed = attempts.failed(self._clock(), self._claims.retry_after)
            await store.schedule_set(slot.attempts_key, failed.encode())
            return None
        await store.schedule_set(Slot.last_key(self._kind), slot.id)
        log.info("%s for %s posted (attempt %d)", self._kind, slot.id, attempts.next + 1)
        await follow_up()
        return slot

    async def _abandoned(self, attempts: Attempts) -> bool:
        """A started attempt whose process is gone (not one that failed: that waits)."""
        gone = self._claims.holder_gone
        return (
            attempts.next < MAX_ATTEMPTS
            and bool(attempts.owner)
            and attempts.owner != self._owner
            and gone is not None
            and await gone(attempts.owner)
        )


class ScheduledPost:
    """What the digest and the hand-over services share: their ``OncePerSlot``'s lifecycle."""

    _slots: OncePerSlot

    async def start(self) -> None:
        """Start the scheduler: the cron, a tick every minute, and one tick right away."""
        if not self._slots.running:
            self._slots.start()
            self._started()

    def _started(self) -> None:
        """Say what was scheduled (the log)."""

    async def stop(self, timeout: timedelta = STOP_TIMEOUT) -> None:
        """Stop the scheduler, first letting a post under way finish (up to ``timeout``)."""
        await self._slots.stop(timeout)

    @property
    def running(self) -> bool:
        return self._slots.running
