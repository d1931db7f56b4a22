"""How long the store keeps what it was given (``[store] retention``), and the pruner.

Every alarm message, run and run output would otherwise stay forever (about 30 MB per hundred
250 KB notifications). Older than the retention, these go:

- runs (by ``started_at``) and their full outputs;
- finished inbox messages lose their body; the row itself (its MessageId) stays until the
  *dedupe window* has passed too, so that a redelivery of the same alarm is still recognised
  for as long as SNS or SQS may redeliver it: SNS messages older than ``sns.max_age`` are
  refused anyway, and a queue keeps a message at most 14 days (SQS's longest retention);
- incidents resolved longer ago than the retention (an open incident always stays, and so do
  the per-alarm records kept under schedule state: they are one per alarm, not per message);
- health rows of processes long gone;
- leases an hour after they ran out (``EXPIRED_LEASE_KEEP``): an expired lease is as good as
  none, whoever held it. Among them the heartbeat of a replica that stopped for good
  (``bot.replicas``; one that stops cleanly deletes its own).

The SQLite store deletes them when ``Pruner`` asks (``bot/store/sqlite_retention.py``), then
gives the freed pages back to the file system. The DynamoDB store needs no pruner: each item
it writes carries the time DynamoDB's TTL deletes it (``bot/store/dynamodb_retention.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from bot.config import Settings
from bot.tasks import BackgroundLoop
from bot.timings import DEFAULT_RETENTION

log = logging.getLogger(__name__)

DEDUPE_MARGIN = timedelta(hours=1)
"""Beyond ``sns.max_age`` (clock skew between SNS and us, a slow retry)."""

SQS_MAX_RETENTION = timedelta(days=14)
"""The longest a queue keeps a message: a redelivery from SQS comes within this."""

EXPIRED_LEASE_KEEP = timedelta(hours=1)
"""How long a lease that ran out stays (to see who held it last), whatever the retention."""


@dataclass(frozen=True)
class Retention:
    """``keep``: how long records are kept; ``dedupe``: how long a MessageId must dedupe."""

    keep: timedelta = DEFAULT_RETENTION
    dedupe: timedelta = timedelta(hours=1) + DEDUPE_MARGIN

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        dedupe = settings.sns.max_age + DEDUPE_MARGIN
        if settings.sqs is not None and settings.sqs.queue_url:
            dedupe = max(dedupe, SQS_MAX_RETENTION + DEDUPE_MARGIN)
        return cls(keep=settings.store.retention, dedupe=dedupe)

    @property
    def inbox_keep(self) -> timedelta:
        """How long an inbox row (its MessageId, at least) stays."""
        return max(self.keep, self.dedupe)

    def cutoffs(self, now: datetime) -> Cutoffs:
        return Cutoffs(
            records=now - self.keep, inbox=now - self.inbox_keep, leases=now - EXPIRED_LEASE_KEEP
        )


@dataclass(frozen=True)
class Cutoffs:
    """What started, was received or was resolved before these times goes."""

    records: datetime  # runs, outputs, resolved incidents, finished messages' bodies
    inbox: datetime  # inbox rows, MessageId and all
    leases: datetime  # leases that ran out before this (heartbeats among them)


@dataclass(frozen=True)
class Pruned:
    """How many of each a prune removed (``slimmed``: inbox bodies dropped, rows kept)."""

    runs: int = 0
    outputs: int = 0
    messages: int = 0
    slimmed: int = 0
    incidents: int = 0
    leases: int = 0
    health: int = 0
    deliveries: int = 0  # outbox rows sent or dropped

    def summary(self) -> str:
        parts = [f"{getattr(self, f.name)} {f.name}" for f in fields(self) if getattr(self, f.name)]
        return ", ".join(parts) or "nothing"


@runtime_checkable
class Prunable(Protocol):
    """A store that deletes old records when asked (the SQLite store; DynamoDB uses TTL)."""

    async def prune(self, cutoffs: Cutoffs) -> Pruned: ...


class Pruner:
    """Prunes ``store`` at ``start`` and then every ``interval`` until ``stop``."""

    def __init__(
        self,
        store: Prunable,
        retention: Retention,
        interval: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._retention = retention
        self._interval = interval
        self._clock = clock
        self._loop = BackgroundLoop("store-pruner")
        self._waiting: list[asyncio.Future[Pruned]] = []

    async def prune_once(self) -> Pruned:
        pruned = await self._store.prune(self._retention.cutoffs(self._clock()))
        log.info("pruned the store: %s", pruned.summary())
        waiting, self._waiting = self._waiting, []
        for future in waiting:
            if not future.done():
                future.set_result(pruned)
        return pruned

    async def next_prune(self) -> Pruned:
        """What the next prune (from now on) removes: a signal to wait on."""
        future: asyncio.Future[Pruned] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        return await future

    def start(self) -> None:
        self._loop.start(self._prune_forever)

    async def stop(self) -> None:
        await self._loop.stop()

    async def _prune_forever(self) -> None:
        while True:
            try:
                await self.prune_once()
            except Exception:  # the store may be briefly unavailable; /healthz reports it
                log.warning("could not prune the store", exc_info=True)
            await asyncio.sleep(self._interval.total_seconds())
