"""The outbox: a Slack post that must arrive is recorded in the store before it is sent, and
sent again until Slack takes it, for as long as it is still worth posting.

``Outbox.post`` records the post (``outbox_add``: one row per delivery id, the id the sender
puts in the message's metadata), claims it under a lease and tries it at once. When Slack did
not take it (a 5xx, a rate limit, a timeout, Slack down for hours), the row stays pending and
the caller hears ``Sent.queued``; the delivery loop, in every replica, sends what is due,
backing off exponentially with jitter (``outbox_backoff`` doubling up to
``outbox_max_backoff``, never sooner than Slack's ``Retry-After``) until Slack takes it or
``outbox_relevance`` has passed (then it is dropped and logged). Slack refusing a post for good
(``channel_not_found``) drops it at once: the caller sees ``Sent.refused`` and decides.

Exactly once: a claim is one sender's, across processes and replicas (a conditional write);
an attempt after one whose outcome is unknown — the answer was lost, or its process died
mid-post — first looks for the message by its delivery id (``SlackSender.find``) and adopts it.

An edit that must arrive (a run's final version) is kept the same way, and tried again
without a lookup: the same edit twice shows the same. A reply whose thread is a message still
in the outbox (an incident's root, ``after``) waits
for that message and goes into its thread. A post that arrives ``late_after`` or more after it
was first tried says how late it is (``late_note``). The code that asked for a post the outbox
had to keep is told when it is finally sent (``on_sent``, by the ``kind`` in its metadata):
an incident's root saves its ts and starts its run then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.metrics import Metrics
from bot.outbound.sender import Blocks, Sent, SlackSender
from bot.store.base import Delivery, Store
from bot.tasks import BackgroundLoop
from bot.timings import DEFAULTS, Timings

log = logging.getLogger(__name__)

OnSent = Callable[[Mapping[str, str], str], Awaitable[None]]
"""Told ``(about, ts)`` when a post the outbox had to keep is in Slack at last."""
Clock = Callable[[], datetime]

UNKNOWN = "unknown outcome: "  # the error of a try that may have landed: look before posting
BATCH = 50  # deliveries read per pass
_TRY_SHARE = 0.8  # of the claim's lease, the most one try may take


def late_words(delay: timedelta, late_after: timedelta) -> str:
    """ "Posted 2 h 5 m late: Slack was unreachable." when ``delay`` is ``late_after`` or more."""
    if delay < late_after:
        return ""
    minutes = int(delay.total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    took = f"{hours} h {minutes} m" if hours else f"{max(minutes, 1)} m"
    return f"Posted {took} late: Slack was unreachable."


def with_note(text: str, blocks: Blocks | None, note: str) -> tuple[str, list[dict[str, Any]]]:
    """The message with ``note`` under it (a context block, or a line of a plain message)."""
    if not note:
        return text, [dict(b) for b in blocks or ()]
    if not blocks:
        return f"{text}\n_{note}_", []
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": f":hourglass: {note}"}]}
    return text, [*(dict(b) for b in blocks), context]


class Outbox:
    """Posts that must reach Slack: recorded, then sent until Slack takes them."""

    def __init__(
        self,
        store: Store,
        sender: SlackSender,
        metrics: Metrics,
        owner: str,
        clock: Clock,
        timings: Timings = DEFAULTS,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._sender = sender
        self._metrics = metrics
        self._owner = owner
        self._clock = clock
        self._t = timings
        self._jitter = jitter  # 0 ≤ x < 1: a wait is cut by up to half, at random
        self._on_sent: dict[str, OnSent] = {}
        self._told: set[asyncio.Task[None]] = set()  # hooks at work (a late root's run)
        self._loop = BackgroundLoop("outbox")
        self._wake = asyncio.Event()  # something became due before the next poll

    def on_sent(self, kind: str, hook: OnSent) -> None:
        """Call ``hook(about, ts)`` when a post of ``kind`` that had to wait is sent."""
        self._on_sent[kind] = hook

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        *,
        about: Mapping[str, str] | None = None,
        delivery: str = "",
        thread_ts: str = "",
        after: str = "",
        edit: str = "",
    ) -> Sent:
        """Record the post (with ``edit``, an edit of that message) and try it now; a
        ``queued`` answer means the outbox has it.

        Posting a delivery id again answers with what became of it: sent, its ts; still
        waiting, queued — and it is tried at once (Slack may be back; whoever had it queued is
        told through ``on_sent``); one Slack refused is tried once more, as it is."""
        now = self._clock()
        payload = {"text": text, "blocks": list(blocks or ()), "about": dict(about or {})}
        if edit:
            payload["edit"] = edit
        row = Delivery(
            delivery_id=delivery or uuid.uuid4().hex,
            channel=channel,
            payload=json.dumps(payload),
            created_at=now,
            due_at=now,
            expires_at=now + self._t.outbox_relevance,
            thread_ts=thread_ts,
            after=after,
        )
        try:
            new = await self._store.outbox_add(row)
            known = None if new else await self._store.outbox_get(row.delivery_id)
        except Exception:  # the store is down: Slack may still take it, once
            log.exception("the outbox could not record %s; posting it unrecorded", channel)
            self._metrics.errors.labels("outbox").inc()
            return await self._send(row, payload, thread_ts, paced=False)
        if known is not None and known.state == "sent":
            return Sent(True, {"ok": True, "channel": channel, "ts": known.ts}, adopted=True)
        if known is not None and known.state == "dropped":
            return await self._send(row, payload, thread_ts, paced=False)
        if known is None and await self._claim(row, payload):
            return await self._attempt(replace(row, attempts=1), first=True)
        if known is not None:
            await self._bring_forward(known, now)
        return Sent(False, error="waiting in the outbox", queued=True)

    async def _bring_forward(self, row: Delivery, now: datetime) -> None:
        """Make a waiting delivery due now, unless a sender holds it. (Claiming it "at" its
        due time fails only when a claim holds it: one was taken at or after that time.)"""
        if await self._store.outbox_claim(
            row.delivery_id, self._owner, self._t.lease, max(now, row.due_at)
        ):
            await self._store.outbox_retry(row.delivery_id, now, row.error)
            self._wake.set()

    async def late_note(self, delivery_id: str) -> str:
        """How late the delivery was sent ("" when it was not late, or is not sent)."""
        row = await self._store.outbox_get(delivery_id)
        if row is None or row.sent_at is None:
            return ""
        return late_words(row.sent_at - row.created_at, self._t.late_after)

    def start(self) -> None:
        """Send what is due every ``outbox_poll`` until ``stop``."""
        self._loop.start(self._deliver_forever)

    async def stop(self) -> None:
        """Stop sending; hooks at work get ``drain`` to finish (a run cut short is recovered
        from its journal)."""
        await self._loop.stop()
        if self._told:
            _, cut = await asyncio.wait(set(self._told), timeout=self._t.drain.total_seconds())
            for task in cut:
                task.cancel()

    async def deliver_due(self) -> int:
        """One pass: try every delivery that is due; return how many Slack took.

        A pass ends at the first try Slack did not answer (it is down): the others stay due
        and the next pass begins with them, so an outage costs one try per pass."""
        sent = 0
        for row in await self._store.outbox_due(self._clock(), BATCH):
            if not await self._claim(row, json.loads(row.payload)):
                continue  # another replica took it
            result = await self._attempt(replace(row, attempts=row.attempts + 1), first=False)
            if result.ok:
                sent += 1
            elif not result.queued and not result.refused:
                break
        return sent

    async def _deliver_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._t.outbox_poll.total_seconds())
            self._wake.clear()
            try:
                while await self.deliver_due():
                    pass  # what was sent may be the thread others wait for: go again
            except Exception:  # the store may be briefly unavailable; try again next time
                log.exception("could not deliver the outbox")
                self._metrics.errors.labels("outbox").inc()

    async def _claim(self, row: Delivery, payload: Mapping[str, Any]) -> bool:
        """Claim the delivery for one try; a post waits for its channel's turn first, so that
        the try (its claim) covers the request alone, not the queue of posts before it."""
        if not payload.get("edit"):
            await self._sender.pace(row.channel)
        return await self._store.outbox_claim(
            row.delivery_id, self._owner, self._t.lease, self._clock()
        )

    async def _attempt(self, row: Delivery, *, first: bool) -> Sent:
        """One try of a delivery we hold the claim of."""
        payload = json.loads(row.payload)
        parent = await self._store.outbox_get(row.after) if row.after else None
        if parent is not None and parent.state == "pending":  # its thread is not in Slack yet
            due = max(parent.due_at, self._clock() + self._t.outbox_poll)
            await self._store.outbox_retry(row.delivery_id, due, row.error)
            return Sent(False, error="waiting for its thread", queued=True)
        thread = row.thread_ts or (parent.ts if parent is not None else "")
        try:
            # A post never outlives its claim: another sender may take the delivery after that.
            # (An edit may wait for the edit budget as long as it takes: repeating one is fine.)
            limit = None if payload.get("edit") else self._t.lease.total_seconds() * _TRY_SHARE
            async with asyncio.timeout(limit):
                sent = await self._try(row, payload, thread)
        except TimeoutError:
            sent = Sent(False, error="the try outlasted its claim", uncertain=True)
        now = self._clock()
        if sent.ok:
            await self._store.outbox_sent(row.delivery_id, sent.ts, now)
            if not first:
                self._tell(payload.get("about") or {}, sent.ts)
            return sent
        if sent.refused or now >= row.expires_at:
            why = sent.error if sent.refused else f"no longer relevant: {sent.error}"
            log.error("outbox: %s for %s dropped: %s", row.delivery_id, row.channel, why)
            self._metrics.errors.labels("outbox").inc()
            await self._store.outbox_drop(row.delivery_id, why[:500])
            return sent
        error = f"{UNKNOWN}{sent.error}" if sent.uncertain else sent.error
        await self._store.outbox_retry(row.delivery_id, self._later(row, sent.retry_after), error)
        return Sent(False, error=sent.error, queued=True, retry_after=sent.retry_after)

    async def _try(self, row: Delivery, payload: Mapping[str, Any], thread: str) -> Sent:
        """Look for the message first when an earlier try may have posted it; then send."""
        unsure = not row.error or row.error.startswith(UNKNOWN)
        if row.attempts > 1 and unsure and not payload.get("edit"):  # an edit may be repeated
            answered, found = await self._sender.look_for(
                row.channel, row.delivery_id, thread_ts=thread or None
            )
            if found is not None:
                return found
            if not answered:  # it may be there: never post it again without knowing
                return Sent(False, error="could not look for it", uncertain=True)
        return await self._send(row, payload, thread)

    async def _send(
        self, row: Delivery, payload: Mapping[str, Any], thread: str, *, paced: bool = True
    ) -> Sent:
        note = late_words(self._clock() - row.created_at, self._t.late_after)
        text, blocks = with_note(str(payload["text"]), payload.get("blocks"), note)
        if payload.get("edit"):
            return await self._sender.update(row.channel, str(payload["edit"]), text, blocks)
        return await self._sender.post(
            row.channel,
            text,
            blocks,
            thread_ts=thread or None,
            about=payload.get("about") or {},
            delivery=row.delivery_id,
            paced=paced,
        )

    def _later(self, row: Delivery, retry_after: float) -> datetime:
        """The next try: backing off from ``outbox_backoff``, doubling with each attempt, up
        to ``outbox_max_backoff``, cut by up to half at random; never before Retry-After."""
        base = self._t.outbox_backoff * (1 << min(max(row.attempts - 1, 0), 30))
        wait = min(base, self._t.outbox_max_backoff) * (1 - self._jitter() / 2)
        return self._clock() + max(wait, timedelta(seconds=retry_after))

    def _tell(self, about: Mapping[str, str], ts: str) -> None:
        """Start the hook of the post's kind; the loop goes on sending meanwhile."""
        hook = self._on_sent.get(about.get("kind", ""))
        if hook is None:
            return

        async def tell() -> None:
            try:
                await hook(about, ts)
            except Exception:
                log.exception("after posting %s late", dict(about))
                self._metrics.errors.labels("outbox").inc()

        task = asyncio.create_task(tell(), name=f"outbox-sent-{ts}")
        self._told.add(task)
        task.add_done_callback(self._told.discard)

    async def settle(self) -> None:
        """Wait for the hooks at work (tests, and a pass that must see their effect)."""
        while self._told:
            await asyncio.wait(set(self._told))
