"""A loopback server on an event loop of its own, in a daemon thread: sync code, async tests
and subprocesses reach it alike. The fakes in front of AWS (the slow proxy, the HTML page, the
black hole) are such servers; they give ``_start`` (listen, and set ``port`` if it was 0) and
``_stop``."""

from __future__ import annotations

import asyncio
import threading


class LoopThreadServer:
    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError
