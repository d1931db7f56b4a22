"""An AWS endpoint that accepts connections and never answers, until it "recovers".

A plain TCP server on 127.0.0.1 in its own thread: while hung it reads whatever a client sends
and answers nothing (the fault that outlived every timeout); after ``recover()`` each new
connection is piped to ``upstream`` (moto server), so the same endpoint URL starts working.
Connections accepted while hung stay hung. ``accepted`` counts connections, ``hung`` the
ones currently held open.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from tests.support.loop_thread import LoopThreadServer


class HungAws(LoopThreadServer):
    def __init__(self, upstream: str) -> None:
        super().__init__()
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.recovered = False
        self.accepted = 0
        self.hung = 0
        self._server: asyncio.Server | None = None
        # Every connection's handler and every stream open (the client's, and upstream's while
        # piped): stop closes them all, so no socket is left for the garbage collector to warn
        # about in whichever test runs next.
        self._handlers: set[asyncio.Task[None]] = set()
        self._streams: set[asyncio.StreamWriter] = set()

    def recover(self) -> None:
        self.recovered = True

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for handler in list(self._handlers):
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        for stream in list(self._streams):
            stream.close()
        await self._server.wait_closed()
        await asyncio.sleep(0.01)  # closed transports finish closing on the loop

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self._streams.add(writer)
        try:
            if self.recovered:
                await self._pipe_to_upstream(reader, writer)
            else:
                await self._hold(reader)
        finally:
            self._handlers.discard(handler)
            self._streams.discard(writer)
            writer.close()

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        self.hung += 1
        try:
            while await reader.read(65536):  # take the request, answer nothing
                pass
        finally:
            self.hung -= 1

    async def _pipe_to_upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._streams.add(up_writer)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        try:
            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        finally:
            self._streams.discard(up_writer)
            up_writer.close()
