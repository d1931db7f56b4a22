"""An "AWS" that answers every request with an HTML error page, the way a proxy, a captive
portal or a load balancer in front of an endpoint does (or with any other ``body`` that is not
an AWS format). Its own thread, so subprocesses and sync code can use it; ``requests`` counts
what it answered."""

from __future__ import annotations

from aiohttp import web

from bot.demo.moto_server import free_port
from tests.support.loop_thread import LoopThreadServer

PAGE = (
    "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>"
    "<body><h1>Internal Server Error</h1><p>The proxy could not reach the upstream.</p>"
    "</body></html>\n"
)


class PageAws(LoopThreadServer):
    def __init__(
        self, status: int = 500, *, body: str = PAGE, content_type: str = "text/html"
    ) -> None:
        super().__init__(free_port())
        self.status = status
        self.body = body
        self.content_type = content_type
        self.requests = 0
        self._runner: web.AppRunner | None = None

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _page(self, request: web.Request) -> web.Response:
        await request.read()
        self.requests += 1
        return web.Response(status=self.status, text=self.body, content_type=self.content_type)
