"""Background work: tasks the server must finish (or wait for) before it stops — spawn, then
drain — and the long-running loops of its components."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)
STOP_RECHECK_SECONDS = 0.5  # how often ``BackgroundLoop.stop`` checks that its task ended


class TaskTracker:
    """Background tasks the server must finish (or wait for) before it stops."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.accepting = True

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name or None)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> int:
        """Stop accepting; wait up to ``timeout`` s for tasks in flight; return how many remain."""
        self.accepting = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks and loop.time() < deadline:  # tasks may start tasks: wait for those too
            await asyncio.wait(set(self._tasks), timeout=deadline - loop.time())
        return len(self._tasks)


class BackgroundLoop:
    """One long-running coroutine of a component (a poller, a sweeper, a heartbeat): started at
    most once, cancelled and awaited on ``stop``. The component keeps its own loop body."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self, body: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Run ``body()`` in the background unless it already runs; True if it was started."""
        if self._task is not None:
            return False
        self._task = asyncio.create_task(body(), name=self._name)
        return True

    async def stop(self) -> bool:
        """Cancel the coroutine and wait for it to end; True if it was running."""
        task, self._task = self._task, None
        if task is None:
            return False
        task.cancel()
        while not task.done():
            await asyncio.wait({task}, timeout=STOP_RECHECK_SECONDS)
            if not task.done():
                # On Python 3.11 ``asyncio.wait_for`` can swallow a cancellation that arrives as
                # its inner call finishes (fixed in 3.12): the loop body then goes on. Ask again.
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True
