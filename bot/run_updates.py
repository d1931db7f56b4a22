"""A run's progress as it happens: snapshots handed to ``on_update`` one at a time, in order.

Delivery runs on its own task, so a slow receiver (a Slack update) never holds up a step;
changes made while one snapshot is being delivered are coalesced into the next one. When the
run ends, the last pending snapshot gets ``UPDATE_FLUSH_S`` to go out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from bot.results import RunResult

logger = logging.getLogger(__name__)

OnUpdate = Callable[[RunResult], Awaitable[None]]

# After the last step, how long the run waits for a pending ``on_update`` to go out.
UPDATE_FLUSH_S = 5.0


class RunUpdates:
    """Sends ``snapshot()`` to ``on_update`` after changes; ``log_extra`` names the run."""

    def __init__(
        self,
        on_update: OnUpdate,
        snapshot: Callable[[], RunResult],
        log_extra: Mapping[str, str],
    ) -> None:
        self._on_update = on_update
        self._snapshot = snapshot
        self._extra = dict(log_extra)
        self._changed = asyncio.Event()  # set when a snapshot is due
        self._version = 0  # bumped on every change ...
        self._delivered = 0  # ... and the version the last on_update saw
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._deliver())

    def changed(self) -> None:
        """The run changed: a snapshot is due."""
        self._version += 1
        self._changed.set()

    async def flush(self) -> None:
        """Let the last pending update go out (waiting at most UPDATE_FLUSH_S), then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._changed.set()
        done, _ = await asyncio.wait([self._task], timeout=UPDATE_FLUSH_S)
        if not done:
            logger.warning(
                "on_update still busy %.0fs after the run; dropping the last update",
                UPDATE_FLUSH_S,
                extra=self._extra,
            )
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _deliver(self) -> None:
        """Deliver snapshots one at a time; changes made meanwhile go out in the next one."""
        while True:
            if self._version == self._delivered:
                if self._stopping:
                    return
                self._changed.clear()
                await self._changed.wait()
                continue
            version = self._version
            try:
                await self._on_update(self._snapshot())
            except Exception:
                logger.exception("on_update failed", extra=self._extra)
            self._delivered = version
