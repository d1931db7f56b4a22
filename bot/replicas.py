"""Which replicas are alive: each one's heartbeat in the shared store.

A replica that dies holding claimed work (alarm messages in the inbox) cannot say so, and on
another host nobody can look up its pid. So every process keeps a lease named after itself,
``replica:<host:pid>``, renewed every third of ``[store] lease``; a replica whose heartbeat
has not been renewed for a whole lease is gone, and its claims may be taken over at once rather
than when their own (much longer) leases run out.

Whether a holder is gone is asked with the store's ``lease_acquire`` on the holder's heartbeat
lease, for no time at all: it succeeds only when that lease has run out (or was never taken),
changes nothing a live holder would notice (its next renewal succeeds: the lease is expired),
and needs no primitive beyond the leases every store already has.

A replica that stops cleanly deletes its heartbeat (``stop``). One that stopped for good
without saying so (killed, its host gone) leaves it running out, and it goes like every lease
that ran out (``bot.store.retention.EXPIRED_LEASE_KEEP``, an hour later): DynamoDB's TTL
deletes the item, the SQLite store's pruner the row. Asking ``is_gone`` leaves such a lease,
already run out, too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.store.base import Store
from bot.tasks import BackgroundLoop

log = logging.getLogger(__name__)

PREFIX = "replica:"


class Heartbeat:
    """This process's heartbeat (``start``/``stop``), and ``is_gone`` for another's."""

    def __init__(
        self,
        store: Store,
        owner: str,
        lease: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.owner = owner
        self._store = store
        self._lease = lease
        self._clock = clock
        self._loop = BackgroundLoop("heartbeat")
        self.last_beat: datetime | None = None  # when the store last took a renewal

    @property
    def lease(self) -> timedelta:
        return self._lease

    async def beat(self) -> None:
        """Renew the heartbeat for one lease from now."""
        now = self._clock()
        if await self._store.lease_acquire(PREFIX + self.owner, self.owner, self._lease, now):
            self.last_beat = now

    def start(self) -> None:
        """Beat every third of a lease until ``stop`` (the first beat is ``beat()``'s)."""
        self._loop.start(self._beat_forever)

    async def stop(self) -> None:
        """Stop beating and say so: what this process still holds may be taken over now."""
        if not await self._loop.stop():
            return
        try:
            await self._store.lease_release(PREFIX + self.owner, self.owner)
        except Exception:  # the heartbeat runs out by itself
            log.warning("could not end the heartbeat of %s", self.owner, exc_info=True)

    async def is_gone(self, owner: str) -> bool:
        """True when ``owner`` has not renewed its heartbeat for a lease (or never had one)."""
        if owner == self.owner:
            return False
        return await self._store.lease_acquire(
            PREFIX + owner, self.owner, timedelta(0), self._clock()
        )

    async def _beat_forever(self) -> None:
        every = self._lease.total_seconds() / 3
        while True:
            try:
                await self.beat()
            except Exception:  # the store may be briefly unavailable; /healthz reports it
                log.warning("could not renew the heartbeat of %s", self.owner, exc_info=True)
            await asyncio.sleep(every)
