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
        self._held: set[asyncio.StreamWriter] = set()

    def recover(self) -> None:
        self.recovered = True

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._held):
            writer.close()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.recovered:
            await self._pipe_to_upstream(reader, writer)
            return
        self.hung += 1
        self._held.add(writer)
        try:
            while await reader.read(65536):  # take the request, answer nothing
                pass
        finally:
            self.hung -= 1
            self._held.discard(writer)
            writer.close()

    async def _pipe_to_upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
