"""The daily digest in a running bot: the scheduler, posting to Slack, and the on-demand digest.

APScheduler only wakes the service up — at the cron time, once a minute, and once at start-up —
and each wake-up (a *tick*) asks ``bot.digest.schedule`` whether a digest is due, from the
state kept in the store. Nothing depends on APScheduler's memory of missed runs, so a restart,
a daylight-saving change or several processes sharing one store give one digest per local day.

A tick that finds day D due:

1. claims the next attempt at D with ``Store.claim_once`` (one process wins it) and records
   the attempt as started (``Attempts.started``);
2. reads the store again: if D was posted meanwhile, stops;
3. builds the digest and posts the message (within ``POST_TIMEOUT``);
4. once Slack has the message, records D as posted (``LAST_POSTED``), then uploads the chart
   into the message's thread — a failed chart upload is logged, never a reason to post again;
5. if building or posting the message failed, records the attempt as failed, which points the
   next tick (in any process) at a fresh claim key after ``retry_after``, within the grace
   window and up to ``MAX_ATTEMPTS`` a day.

A process that dies between 1 and 4 leaves the attempt "started"; another process takes over
after ``post_deadline``, or as soon as ``holder_gone`` says that process is gone (its
heartbeat, ``bot.replicas``, is a ``[store] lease`` old). The one case that can post twice is
a process that dies (or times out) after Slack accepted the message but before step 4 recorded
it: nobody can tell that apart from a message that never arrived. The one case that posts
nothing is a process that dies between winning the claim and recording the attempt as started.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.aws import AwsClients
from bot.config import DigestSettings
from bot.digest.chart import digest_chart_png
from bot.digest.model import Digest
from bot.digest.queries import build_digest
from bot.digest.render import digest_blocks, digest_fallback_text, digest_text
from bot.digest.schedule import (
    GRACE,
    LAST_POSTED,
    MAX_ATTEMPTS,
    Attempts,
    attempts_key,
    due_date,
    local_today,
    parse_last_posted,
)
from bot.leases import HeldLeases
from bot.outbound.sender import SlackSender
from bot.store.base import Store
from bot.timings import DEFAULTS

log = logging.getLogger(__name__)

TICK = timedelta(minutes=1)  # how often the service asks whether a digest is due
POST_TIMEOUT = timedelta(minutes=5)  # building the digest and posting its message
CHART_TIMEOUT = timedelta(minutes=2)  # drawing and uploading the chart
STOP_TIMEOUT = timedelta(seconds=20)  # how long stop() waits for a digest being posted


@dataclass(frozen=True)
class PostedDigest:
    """A digest whose message is in Slack: where it is, and the digest itself."""

    digest: Digest
    channel: str  # the channel id, as Slack answered
    ts: str


async def post_message(
    aws: AwsClients,
    settings: DigestSettings | None,
    sender: SlackSender,
    channel: str,
    report_for: date,
) -> PostedDigest:
    """Build the digest that goes out on the morning of ``report_for`` and post its message.

    Sections AWS would not give are lines in the digest, not errors; Slack not taking the
    message raises ``SlackRefused`` (logged by the sender, its reason for a person)."""
    digest = await build_digest(aws, settings, report_for)
    sent = await sender.post(channel, digest_fallback_text(digest), digest_blocks(digest))
    sent.check("the digest")
    return PostedDigest(digest, str(sent.data.get("channel") or channel), sent.ts)


async def upload_chart(sender: SlackSender, posted: PostedDigest) -> bool:
    """Draw the chart and upload it into the message's thread; False when there is nothing to
    draw (no spend in the 14 days). Slack not taking it raises ``SlackRefused``."""
    png = await asyncio.to_thread(digest_chart_png, posted.digest)
    if png is None:
        return False
    day = posted.digest.report_date
    sent = await sender.upload(
        posted.channel,
        thread_ts=posted.ts,
        content=png,
        filename=f"aws-spend-{day.isoformat()}.png",
        title=f"Daily AWS spend, 14 days to {day:%a} {day.day} {day:%b %Y}",
    )
    sent.check("the chart")
    return True


class DigestService:
    """Posts the daily digest on schedule, once per local day, and on demand."""

    def __init__(
        self,
        settings: DigestSettings,
        aws: AwsClients,
        store: Store,
        sender: SlackSender,
        *,
        trigger: CronTrigger,
        owner: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick_every: timedelta = TICK,
        retry_after: timedelta = DEFAULTS.digest_retry_after,
        post_deadline: timedelta = DEFAULTS.digest_post_deadline,
        holder_gone: Callable[[str], Awaitable[bool]] | None = None,
        held: HeldLeases | None = None,
    ) -> None:
        self._settings = settings
        self._aws = aws
        self._store = store
        self._sender = sender
        self._owner = owner
        self._clock = clock
        self._tick_every = tick_every
        self._retry_after = retry_after  # after a failed attempt, the next may start
        self._post_deadline = post_deadline  # an attempt not finished by then is taken over
        self._holder_gone = holder_gone  # ... and one whose process is gone, at once
        self._held = held if held is not None else HeldLeases()  # an attempt, while it runs
        self._trigger = trigger  # settings.cron in settings.timezone, checked by bot.loading
        self._scheduler: AsyncIOScheduler | None = None
        self._tick_lock = asyncio.Lock()

    # lifecycle

    async def start(self) -> None:
        """Start the scheduler: the cron, a tick every minute, and one tick right away."""
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(timezone=self._trigger.timezone)
        grace = int(GRACE.total_seconds())
        common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": grace}
        scheduler.add_job(self.tick, self._trigger, id="digest-cron", **common)
        scheduler.add_job(
            self.tick, IntervalTrigger(seconds=self._tick_every.total_seconds()), **common
        )
        scheduler.add_job(self.tick, id="digest-startup", **common)  # no trigger: run now
        scheduler.start()
        self._scheduler = scheduler
        if not self._settings.channel:
            log.warning("digest.channel is empty: the scheduled digest will not be posted")
        log.info(
            "digest scheduled at %r in %s, to %s",
            self._settings.cron,
            self._settings.timezone,
            self._settings.channel or "(no channel)",
        )

    async def stop(self, timeout: timedelta = STOP_TIMEOUT) -> None:
        """Stop the scheduler, first letting a digest being posted finish (up to ``timeout``):
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
            log.warning("stopping while the digest is still being posted")
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    # the schedule

    async def tick(self) -> date | None:
        """Post the digest if one is due and no process has; the date posted, else None.

        Never raises: a failure is logged and the next tick tries again."""
        if self._tick_lock.locked():
            return None  # a tick of ours is already on it
        async with self._tick_lock:
            try:
                return await self._tick()
            except Exception:
                log.exception("digest scheduler: the check failed; trying again next tick")
                return None

    async def _tick(self) -> date | None:
        store, now = self._store, self._clock()
        last = parse_last_posted(await store.schedule_get(LAST_POSTED))
        day = due_date(self._trigger, now, last)
        if day is None:
            return None
        if not self._settings.channel:
            return None  # start() said so once
        attempts = Attempts.decode(await store.schedule_get(attempts_key(day)))
        if not attempts.may_start(now) and not await self._abandoned(attempts):
            return None
        if not await store.claim_once(attempts.claim_key(day), self._owner, now):
            return None  # another process has this attempt
        with self._held.holding(f"digest:{day.isoformat()}", now, now + self._post_deadline):
            return await self._attempt(day, attempts, now)

    async def _attempt(self, day: date, attempts: Attempts, now: datetime) -> date | None:
        """The attempt at ``day`` once its claim is won: steps 1 to 5 of the module docstring."""
        store = self._store
        started = attempts.started(now, self._post_deadline, self._owner)
        await store.schedule_set(attempts_key(day), started.encode())
        posted_day = parse_last_posted(await store.schedule_get(LAST_POSTED))
        if posted_day is not None and posted_day >= day:
            return None  # posted by another process while we were deciding
        posted = await self._post_message(self._settings.channel, day)
        if posted is None:
            failed = attempts.failed(self._clock(), self._retry_after)
            await store.schedule_set(attempts_key(day), failed.encode())
            return None
        await store.schedule_set(LAST_POSTED, day.isoformat())
        log.info("digest for %s posted to %s (attempt %d)", day, posted.channel, attempts.next + 1)
        await self._upload_chart(posted)
        return day

    async def _abandoned(self, attempts: Attempts) -> bool:
        """A started attempt whose process is gone (not one that failed: that waits)."""
        return (
            attempts.next < MAX_ATTEMPTS
            and bool(attempts.owner)
            and attempts.owner != self._owner
            and self._holder_gone is not None
            and await self._holder_gone(attempts.owner)
        )

    # on demand

    def today(self) -> date:
        """Today in the digest's time zone: the default ``report_for``."""
        return local_today(self._settings.timezone, self._clock())

    async def post(self, channel: str, report_for: date | None = None) -> None:
        """Post the digest (message, then chart) to ``channel`` now, e.g. for ``/triage cost``.

        Does not count as the day's scheduled digest. Failures are logged, never raised."""
        posted = await self._post_message(channel, report_for or self.today())
        if posted is not None:
            await self._upload_chart(posted)

    async def text(self, report_for: date | None = None) -> str:
        """The digest as plain text, as ``triagebot digest`` prints it."""
        digest = await build_digest(self._aws, self._settings, report_for or self.today())
        return digest_text(digest)

    async def _post_message(self, channel: str, day: date) -> PostedDigest | None:
        try:
            async with asyncio.timeout(POST_TIMEOUT.total_seconds()):
                return await post_message(self._aws, self._settings, self._sender, channel, day)
        except Exception:
            log.exception("digest for %s could not be posted to %s", day, channel)
            return None

    async def _upload_chart(self, posted: PostedDigest) -> None:
        try:
            async with asyncio.timeout(CHART_TIMEOUT.total_seconds()):
                await upload_chart(self._sender, posted)
        except Exception:
            log.exception(
                "digest chart for %s could not be uploaded to %s (the message is posted)",
                posted.digest.report_date,
                posted.channel,
            )


def process_owner() -> str:
    """``hostname:pid``: who claimed a digest attempt, as the store records it."""
    return f"{socket.gethostname()}:{os.getpid()}"
