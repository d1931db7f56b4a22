"""A store lease held for as long as the work under it takes, and no longer than a lease after
its holder dies.

``[store] lease`` says how long a dead replica's work stays claimed. Work under a lease can
take longer than that while its holder is alive (an incident's root waits its turn among posts
paced per channel; a storm's new message likewise), and a lease that ran out under a live
holder lets a second replica do the same work: a second root, a second storm reply. So a held
lease is renewed every third of its length until the work ends, and released then; a holder
that dies stops renewing, and the lease is free one lease later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from bot.store.base import Store

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def held_lease(
    store: Store, name: str, owner: str, ttl: timedelta, clock: Callable[[], datetime]
) -> AsyncIterator[bool]:
    """Try to take ``name``; yields whether it is ours. While the body runs it stays ours
    (renewed every ``ttl / 3``); when the body ends it is released."""
    if not await store.lease_acquire(name, owner, ttl, clock()):
        yield False
        return
    renewing = asyncio.create_task(_renew(store, name, owner, ttl, clock), name=f"lease-{name}")
    try:
        yield True
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        await store.lease_release(name, owner)


async def _renew(
    store: Store, name: str, owner: str, ttl: timedelta, clock: Callable[[], datetime]
) -> None:
    while True:
        await asyncio.sleep(ttl.total_seconds() / 3)
        try:
            if not await store.lease_acquire(name, owner, ttl, clock()):
                log.warning("lease %s ran out under %s and was taken over", name, owner)
                return
        except Exception:  # the store may be briefly unavailable: the next renewal tries again
            log.warning("could not renew lease %s", name, exc_info=True)
