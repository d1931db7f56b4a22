"""The alarm inbox: every alarm message is recorded durably first, then handled exactly once.

``accept`` is what ``POST /sns`` and the SQS poller call: it writes the message to the store
(``inbox_add`` dedupes by message id) and only then may the sender be told "got it". Handling
happens afterwards, as a tracked background task that first claims the message under a lease
(``inbox_claim``: one winner, even across processes), then calls ``process``, then marks it
done.

When handling fails, the claim is simply left to run out: the sweeper (every minute) takes the
message again once the lease has expired, up to ``max_attempts`` claims; then it is marked
failed and logged. When the store itself failed (read-only, a full disk), the process asks it
again from ``store_retry``, doubling, and takes its own claim back as soon as it answers, so an
alarm caught by a store outage is handled when the store is back, not a whole lease later.
``process`` may raise ``RetryLater`` to be called again sooner (say, another worker is busy
with the same incident); past ``max_attempts`` it is called again all the same, backing off up
to ``outbox_max_backoff``, for ``outbox_relevance`` from its arrival: another replica posting a
storm's roots one a second in a busy channel is no reason to give up on the copies waiting for
it. ``SlackUnavailable`` (a ``RetryLater``) backs off so from its first attempt: Slack being
down is no reason to give up either.

When the process dies mid-way, its claim is taken over at the next start (``recover``) when
it was held by a process of this host that no longer exists; by any replica's sweeper when
``holder_gone`` says its holder is gone (``bot.replicas.Heartbeat``: no heartbeat for a whole
``[store] lease``); and otherwise once the claim's own lease has run out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from bot.errors import RetryLater, SlackUnavailable
from bot.leases import HeldLeases
from bot.metrics import Metrics
from bot.store.base import InboxItem, Store, StoreUnavailable
from bot.tasks import BackgroundLoop, TaskTracker
from bot.timings import DEFAULTS

log = logging.getLogger(__name__)

_LONGEST_STORE_WAIT = timedelta(seconds=30)  # between asks of a store that does not answer

Process = Callable[[str, str], Awaitable[None]]
"""Handles one recorded message: ``process(body, message_id)``."""
HolderGone = Callable[[str], Awaitable[bool]]
"""Whether the holder of a claim (``host:pid``, on any host) is gone: its claims are free."""
Clock = Callable[[], datetime]

DEFAULT_MAX_ATTEMPTS = 5


def default_owner() -> str:
    """``hostname:pid``: who holds a claim, and whether that process still exists."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_gone(owner: str, me: str) -> bool:
    """True when ``owner`` names a process on this host that has ended.

    A claim held by another host is never judged here: it is taken over when its lease runs
    out. ``me`` itself counts as gone only when asked at start-up (nothing is in flight yet),
    which the caller decides.
    """
    host, _, pid_text = owner.rpartition(":")
    if host != me.rpartition(":")[0] or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False


class AlarmInbox:
    """Records alarm messages durably and hands each to ``process`` exactly once."""

    def __init__(
        self,
        store: Store,
        process: Process,
        tasks: TaskTracker,
        metrics: Metrics,
        owner: str,
        clock: Clock = lambda: datetime.now(UTC),
        *,
        lease: timedelta = DEFAULTS.inbox_lease,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        sweep_seconds: float = DEFAULTS.inbox_sweep.total_seconds(),
        holder_gone: HolderGone | None = None,
        held: HeldLeases | None = None,
        store_retry: timedelta = DEFAULTS.store_retry,
        slack_patience: tuple[timedelta, timedelta] = (
            DEFAULTS.outbox_max_backoff,
            DEFAULTS.outbox_relevance,
        ),
    ) -> None:
        self._store = store
        self._process = process
        self._tasks = tasks
        self._metrics = metrics
        self.owner = owner
        self._clock = clock
        self._lease = lease
        self._store_retry = store_retry  # the first wait for a store that failed mid-way
        self._max_attempts = max(1, max_attempts)
        self._sweep_seconds = sweep_seconds
        self._holder_gone = holder_gone
        self._held = held if held is not None else HeldLeases()  # the claims held now
        self._longest_wait, self._relevance = slack_patience  # for SlackUnavailable
        self._in_flight: set[str] = set()
        self._sweeper = BackgroundLoop("inbox-sweeper")
        self._timers: set[asyncio.Task[None]] = set()

    async def accept(self, message_id: str, source: str, body: str) -> bool:
        """Record the message (committed when this returns); True if it was new.

        A new message is then handled in the background; a known one changes nothing.
        """
        new = await self._store.inbox_add(message_id, source, body, self._clock())
        if new and self._tasks.accepting:  # while stopping, the next start picks it up
            self._spawn(message_id, body, self._clock())
        return new

    async def recover(self) -> int:
        """At start-up: handle every recorded message that is not finished; return how many.

        Pending messages, claims whose lease ran out, and claims held by a process of this host
        that has ended (a crash, or this same owner before a restart) are all taken again.
        """
        return await self._take_unfinished(startup=True)

    async def sweep(self) -> int:
        """Take messages whose claim has run out (failed attempts, replicas that died)."""
        return await self._take_unfinished(startup=False)

    def start(self) -> None:
        """Sweep every ``sweep_seconds`` until ``stop``."""
        self._sweeper.start(self._sweep_forever)

    async def stop(self) -> None:
        for timer in list(self._timers):
            timer.cancel()  # the claim runs out and the message is taken again later
        await self._sweeper.stop()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                await self.sweep()
            except Exception:  # the store may be briefly unavailable; try again next time
                log.exception("could not sweep the alarm inbox")
                self._metrics.errors.labels("inbox").inc()

    async def _take_unfinished(self, *, startup: bool) -> int:
        now = self._clock()
        taken = 0
        gone: dict[str, bool] = {}  # each holder is asked about once a sweep
        for item in await self._store.inbox_unfinished():
            if item.message_id in self._in_flight:
                continue
            claim_at = await self._claimable_at(item, now, gone, startup=startup)
            if claim_at is None or not self._tasks.accepting:
                continue
            self._spawn(item.message_id, item.body, claim_at)
            taken += 1
        if taken:
            log.info("taking %d unfinished alarm messages from the inbox", taken)
        return taken

    async def _claimable_at(
        self, item: InboxItem, now: datetime, gone: dict[str, bool], *, startup: bool
    ) -> datetime | None:
        """The time to claim ``item`` at, or None when someone alive still holds it.

        A dead holder's lease is treated as over: claiming "at" its end takes it over at once.
        """
        if item.status == "pending" or item.lease_until is None or item.lease_until <= now:
            return now
        if item.owner != self.owner and item.owner not in gone:
            gone[item.owner] = holder_is_gone(item.owner, self.owner) or (
                self._holder_gone is not None and await self._holder_gone(item.owner)
            )
        if (startup and item.owner == self.owner) or gone.get(item.owner, False):
            log.info(
                "taking over alarm message %s from %s, which has ended",
                item.message_id,
                item.owner,
                extra={"message_id": item.message_id},
            )
            return max(now, item.lease_until)
        return None

    def _spawn(self, message_id: str, body: str, claim_at: datetime) -> None:
        self._in_flight.add(message_id)
        self._tasks.spawn(self._handle(message_id, body, claim_at), name=f"alarm-{message_id}")

    async def _handle(self, message_id: str, body: str, claim_at: datetime) -> None:
        try:
            if not await self._store.inbox_claim(message_id, self.owner, self._lease, claim_at):
                return  # another worker holds it, or it is already done
            claim = f"inbox-claim:{message_id}"
            with self._held.holding(claim, claim_at, claim_at + self._lease):
                try:
                    await self._process(body, message_id)
                except Exception as exc:
                    await self._failed(message_id, body, exc)
                    return
                await self._store.inbox_done(message_id)
        except Exception:  # the store itself failed: the claim runs out and is retried
            log.exception(
                "alarm message %s: inbox bookkeeping failed; it will be retried",
                message_id,
                extra={"message_id": message_id},
            )
            self._metrics.errors.labels("inbox").inc()
            self._retry_after(message_id, body, self._store_retry, patient=True)
        finally:
            self._in_flight.discard(message_id)

    async def _failed(self, message_id: str, body: str, exc: Exception) -> None:
        if isinstance(exc, StoreUnavailable):  # not the alarm's fault: again once it answers
            log.warning("alarm message %s waits for the store: %s", message_id, exc)
            self._retry_after(message_id, body, self._store_retry, patient=True)
            return
        item = await self._store.inbox_get(message_id)
        attempts = item.attempts if item is not None else self._max_attempts
        relevant = item is not None and self._clock() - item.received_at < self._relevance
        if isinstance(exc, RetryLater) and (attempts < self._max_attempts or relevant):
            # Not a failure: Slack is down, or another replica is busy with the same incident
            # (a storm's roots wait their turn in a busy channel), for as long as the message
            # is relevant. Slack's waits double up to the outbox's longest; another replica's,
            # past max_attempts, up to eight times what it asked for (it is at work).
            slack = isinstance(exc, SlackUnavailable)
            if slack:
                wait = min(exc.after * (1 << min(attempts - 1, 20)), self._longest_wait)
            else:
                wait = exc.after * (1 << min(max(attempts - self._max_attempts, 0), 3))
            log.log(
                logging.WARNING if slack else logging.INFO,
                "alarm message %s: %s (attempt %d); again in %ss",
                message_id,
                exc,
                attempts,
                wait.total_seconds(),
                extra={"message_id": message_id},
            )
            self._retry_after(message_id, body, wait)
            return
        self._metrics.errors.labels("alarm").inc()
        if attempts < self._max_attempts:
            log.warning(
                "alarm message %s failed (attempt %d of %d); retrying when its lease ends",
                message_id,
                attempts,
                self._max_attempts,
                exc_info=exc,
                extra={"message_id": message_id},
            )
            return
        log.error(
            "alarm message %s failed %d times; giving up",
            message_id,
            attempts,
            exc_info=exc,
            extra={"message_id": message_id},
        )
        await self._store.inbox_failed(message_id, f"{type(exc).__name__}: {exc}"[:500])

    def _retry_after(
        self, message_id: str, body: str, delay: timedelta, *, patient: bool = False
    ) -> None:
        """Take our own claim again after ``delay`` (we hold it, so we may end it early);
        ``patient``: while the store does not answer, ask again, doubling the wait, for as long
        as the claim would last (then the sweeper takes it)."""
        give_up = self._clock() + self._lease

        async def later() -> None:
            wait = delay
            while True:
                await asyncio.sleep(wait.total_seconds())
                if message_id in self._in_flight or not self._tasks.accepting:
                    return
                try:
                    current = await self._store.inbox_get(message_id)
                    break
                except Exception as exc:  # the claim runs out and the sweeper takes it
                    if not patient or self._clock() + wait >= give_up:
                        log.exception("could not retry alarm message %s", message_id)
                        return
                    log.warning("alarm message %s waits for the store: %s", message_id, exc)
                    wait = min(wait * 2, _LONGEST_STORE_WAIT)
            if current is not None and current.status == "pending":  # its claim failed
                self._spawn(message_id, body, self._clock())
            elif current is not None and current.owner == self.owner and current.lease_until:
                self._spawn(message_id, body, max(self._clock(), current.lease_until))

        timer = asyncio.create_task(later(), name=f"alarm-retry-{message_id}")
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
