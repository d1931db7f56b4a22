"""The shift hand-over in a running bot: posted at every shift change of ``[handover] cron``,
once per shift change whichever process fires (``bot.digest.slots``), and on demand
(``/triage handover``, through ``post_handover``).

It goes through the outbox (``bot.outbound.outbox``), a scheduled one as delivery
``handover:<shift change>``: what Slack does not take is posted when Slack is back, saying how
late, and a take-over after a process died mid-post adopts the message instead of doubling it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from bot.config import Settings
from bot.digest.schedule import Slot, due_shift, shift_change, shift_start
from bot.digest.slots import NOTHING_MORE, Claims, FollowUp, OncePerSlot, ScheduledPost
from bot.incidents.handover import build_handover
from bot.incidents.handover_text import handover_blocks, handover_fallback_text
from bot.outbound.outbox import Outbox
from bot.outbound.sender import SlackSender
from bot.store.base import Store

log = logging.getLogger(__name__)

LONGEST_SHIFT = timedelta(days=7)  # a scheduled hand-over looks back this far at most
POST_TIMEOUT = timedelta(minutes=2)  # reading the store and posting the message


class HandoverService(ScheduledPost):
    """Posts the hand-over at each shift change, once, and on demand."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        sender: SlackSender,
        outbox: Outbox,
        *,
        trigger: CronTrigger,
        claims: Claims,
    ) -> None:
        assert settings.handover is not None
        self._channel = settings.handover.channel
        self._settings = settings
        self._store = store
        self._sender = sender
        self._outbox = outbox
        self._trigger = trigger  # [handover] cron in its time zone, checked by bot.loading
        self._slots = OncePerSlot(
            "handover", store, trigger=trigger, due=self._due, post=self._post_slot, claims=claims
        )

    def _started(self) -> None:
        if not self._channel:
            log.warning("handover.channel is empty: the scheduled hand-over will not be posted")

    async def tick(self) -> datetime | None:
        """Post the hand-over if one is due and no process has; its shift change, else None."""
        slot = await self._slots.tick()
        return shift_change(slot) if slot is not None else None

    def _due(self, now: datetime, last: str | None) -> Slot | None:
        return due_shift(self._trigger, now, last) if self._channel else None

    async def _post_slot(self, slot: Slot) -> FollowUp | None:
        end = shift_change(slot)
        start = shift_start(self._trigger, end, LONGEST_SHIFT)
        delivery = f"handover:{slot.id}"
        return NOTHING_MORE if await self._post(self._channel, start, end, delivery) else None

    async def _post(self, channel: str, start: datetime, end: datetime, delivery: str) -> bool:
        return await post_handover(
            self._settings, self._store, self._sender, self._outbox, channel, start, end, delivery
        )


async def post_handover(
    settings: Settings,
    store: Store,
    sender: SlackSender,
    outbox: Outbox,
    channel: str,
    start: datetime,
    end: datetime,
    delivery: str = "",
) -> bool:
    """Post the hand-over of ``start`` to ``end`` to ``channel`` (or leave it to the outbox
    until Slack takes it); False (logged) if it could not be built or Slack refused it.
    ``/triage handover`` calls it for the last 12 hours (or ``since=``)."""
    try:
        async with asyncio.timeout(POST_TIMEOUT.total_seconds()):
            handover = await build_handover(settings, store, sender, start, end)
            text, blocks = handover_fallback_text(handover), handover_blocks(handover)
            sent = await outbox.post(channel, text, blocks, delivery=delivery)
    except Exception:
        log.exception("hand-over up to %s could not be posted to %s", end, channel)
        return False
    if sent.queued:
        log.warning("hand-over up to %s waits in the outbox for Slack: %s", end, sent.error)
    elif not sent.ok:
        log.error("hand-over up to %s could not be posted to %s: %s", end, channel, sent.error)
    return sent.ok or sent.queued
