"""The daily digest in a running bot: the scheduler, posting to Slack, and the on-demand digest.

The schedule is ``bot.digest.slots`` (one digest per local day, whichever process fires);
posting a slot means building the digest and posting its message (within ``POST_TIMEOUT``),
and once that is recorded, uploading the chart into the message's thread — a failed chart
upload is logged, never a reason to post again.

The message goes through the outbox (``bot.outbound.outbox``) as delivery ``digest:<date>``:
when Slack does not take it, the outbox keeps it and posts it when Slack is back (saying how
late it is), and the chart follows then; a process that dies after Slack took it leaves the
outbox to find the message by its delivery id, so a take-over adopts it instead of posting a
second digest.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from bot.aws import AwsClients
from bot.config import DigestSettings
from bot.digest.chart import digest_chart_png
from bot.digest.model import Digest
from bot.digest.queries import build_digest
from bot.digest.render import digest_blocks, digest_fallback_text, digest_text
from bot.digest.schedule import Slot, digest_slot, due_date, local_today, parse_last_posted
from bot.digest.slots import NOTHING_MORE, Claims, FollowUp, OncePerSlot, ScheduledPost
from bot.outbound.outbox import Outbox
from bot.outbound.sender import SlackSender
from bot.store.base import Store

log = logging.getLogger(__name__)

POST_TIMEOUT = timedelta(minutes=5)  # building the digest and posting its message
CHART_TIMEOUT = timedelta(minutes=2)  # drawing and uploading the chart
KIND = "digest"  # the outbox tells ``DigestService`` when a digest it kept is posted


class Queued(enum.Enum):
    """The digest waits in the outbox: Slack did not take it yet."""

    QUEUED = "queued"


QUEUED = Queued.QUEUED


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


class DigestService(ScheduledPost):
    """Posts the daily digest on schedule, once per local day, and on demand."""

    def __init__(
        self,
        settings: DigestSettings,
        aws: AwsClients,
        store: Store,
        sender: SlackSender,
        outbox: Outbox,
        *,
        trigger: CronTrigger,
        claims: Claims,
    ) -> None:
        self._settings = settings
        self._aws = aws
        self._sender = sender  # the chart upload
        self._outbox = outbox  # the message
        outbox.on_sent(KIND, self._posted_late)
        self._clock = claims.clock
        self._trigger = trigger  # settings.cron in settings.timezone, checked by bot.loading
        self._slots = OncePerSlot(
            "digest", store, trigger=trigger, due=self._due, post=self._post_slot, claims=claims
        )

    def _started(self) -> None:
        if not self._settings.channel:
            log.warning("digest.channel is empty: the scheduled digest will not be posted")
        log.info(
            "digest scheduled at %r in %s, to %s",
            self._settings.cron,
            self._settings.timezone,
            self._settings.channel or "(no channel)",
        )

    async def tick(self) -> date | None:
        """Post the digest if one is due and no process has; the date posted, else None."""
        slot = await self._slots.tick()
        return date.fromisoformat(slot.id) if slot is not None else None

    def _due(self, now: datetime, last: str | None) -> Slot | None:
        if not self._settings.channel:
            return None  # start() said so once
        day = due_date(self._trigger, now, parse_last_posted(last))
        return digest_slot(day) if day is not None else None

    async def _post_slot(self, slot: Slot) -> FollowUp | None:
        day = date.fromisoformat(slot.id)
        posted = await self._post_message(self._settings.channel, day, f"digest:{slot.id}")
        if posted is None:
            return None
        if posted is QUEUED:
            return NOTHING_MORE  # the outbox posts it; the chart follows then
        return lambda: self._upload_chart(posted)

    # on demand

    def today(self) -> date:
        """Today in the digest's time zone: the default ``report_for``."""
        return local_today(self._settings.timezone, self._clock())

    async def post(self, channel: str, report_for: date | None = None) -> None:
        """Post the digest (message, then chart) to ``channel`` now, e.g. for ``/triage cost``.

        Does not count as the day's scheduled digest. Failures are logged, never raised."""
        posted = await self._post_message(channel, report_for or self.today())
        if isinstance(posted, PostedDigest):
            await self._upload_chart(posted)

    async def text(self, report_for: date | None = None) -> str:
        """The digest as plain text, as ``triagebot digest`` prints it."""
        digest = await build_digest(self._aws, self._settings, report_for or self.today())
        return digest_text(digest)

    async def _post_message(
        self, channel: str, day: date, delivery: str = ""
    ) -> PostedDigest | Queued | None:
        """Build and post the digest: where it is; ``QUEUED`` when the outbox keeps it until
        Slack takes it; None (logged) when it could not be built or Slack refused it."""
        try:
            async with asyncio.timeout(POST_TIMEOUT.total_seconds()):
                digest = await build_digest(self._aws, self._settings, day)
                text, blocks = digest_fallback_text(digest), digest_blocks(digest)
                about = {"kind": KIND, "day": day.isoformat(), "channel": channel}
                sent = await self._outbox.post(
                    channel, text, blocks, about=about, delivery=delivery
                )
        except Exception:
            log.exception("digest for %s could not be posted to %s", day, channel)
            return None
        if sent.queued:
            log.warning("digest for %s waits in the outbox for Slack: %s", day, sent.error)
            return QUEUED
        if not sent.ok:
            log.error("digest for %s could not be posted to %s: %s", day, channel, sent.error)
            return None
        return PostedDigest(digest, str(sent.data.get("channel") or channel), sent.ts)

    async def _posted_late(self, about: Mapping[str, str], ts: str) -> None:
        """A digest the outbox kept is in Slack at last: its chart goes into its thread."""
        day = date.fromisoformat(about["day"])
        try:
            async with asyncio.timeout(CHART_TIMEOUT.total_seconds()):
                digest = await build_digest(self._aws, self._settings, day)
        except Exception:
            log.exception("digest chart for %s: the digest could not be built again", day)
            return
        await self._upload_chart(PostedDigest(digest, about["channel"], ts))

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
