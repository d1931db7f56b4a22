"""A local stand-in for the Slack Web API, over real HTTP on 127.0.0.1.

Tests and ``triagebot demo`` point slack_sdk at it
(``AsyncWebClient(token="xoxb-…", base_url=fake.base_url)``); it answers the methods the bot
uses the way Slack does, keeps the channels' messages and threads, records every call, and can
be told to fail (rate limits, 5xx, Slack errors, or down altogether). It also speaks Socket
Mode: ``apps.connections.open`` (with an ``xapp-`` token) answers a ``ws://127.0.0.1:…`` URL
served by ``fake.socket`` (see ``bot.demo.slack_socket``)::

    fake = FakeSlackApi()
    await fake.start()
    ...
    await fake.wait_for("chat.update")
    print(fake.transcript("C0123456789"))
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from bot.demo.slack_model import Ephemeral, MessageVersion, SlackCall, SlackFile, SlackMessage
from bot.demo.slack_socket import SocketAck, SocketConnection, SocketModeServer
from bot.demo.slack_workspace import FakeWorkspace, SlackRefusal

__all__ = [
    "Ephemeral",
    "FakeSlackApi",
    "FakeWorkspace",
    "MessageVersion",
    "SlackCall",
    "SlackFile",
    "SlackMessage",
    "SlackRefusal",
    "SocketAck",
    "SocketConnection",
    "SocketModeServer",
]

# Arguments slack_sdk may send as JSON text inside a form field or query string.
_JSON_ARGS = frozenset({"blocks", "attachments", "files", "view", "metadata", "unfurls"})


@dataclass(frozen=True)
class _Fault:
    status: int
    error: str
    retry_after: int | None


class FakeSlackApi:
    """The Slack Web API stand-in. Start it, point a client at ``base_url``, read what happened.

    ``token`` (optional) is the one bot token accepted; otherwise any ``xoxb-`` token is.
    ``app_token`` likewise for the app-level token ``apps.connections.open`` wants (``xapp-``).
    The other arguments describe the workspace (see ``FakeWorkspace``): ``users`` and
    ``channels`` make lookups strict, ``usergroups`` maps a group id to its members.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        app_token: str | None = None,
        users: Mapping[str, Mapping[str, Any]] | None = None,
        channels: Mapping[str, str] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        bot_user_id: str = "U0BOT",
        first_ts: int = 1_700_000_000,
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.socket = SocketModeServer()
        self.workspace = FakeWorkspace(
            users=users,
            channels=channels,
            usergroups=usergroups,
            bot_user_id=bot_user_id,
            first_ts=first_ts,
        )
        self.calls: list[SlackCall] = []
        self.homes: dict[str, dict[str, Any]] = {}  # user → the Home tab view published last
        self._held: dict[str, asyncio.Event] = {}
        self._late: dict[str, deque[float]] = {}  # method -> seconds to wait before answering
        self._drops: dict[str, int] = {}  # method -> calls done, then the connection closed
        self.base_url = ""
        self._faults: dict[str, deque[_Fault]] = {}
        self._down = False
        self._new_call = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # lifecycle

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; return ``base_url`` (``http://…/api/``)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        self.socket.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.workspace.upload_root = f"http://{host}:{port}"
        self.socket.root = f"ws://{host}:{port}"
        self.base_url = f"http://{host}:{port}/api/"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            self.socket.refuse(True)
            await self.socket.close_all()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlackApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # fault injection

    def fail_next(
        self,
        method: str,
        status: int | None = None,
        *,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        ``status=429`` answers ``ratelimited`` with a ``Retry-After`` header (default 1 s);
        another status answers that HTTP error; ``error="channel_not_found"`` answers HTTP 200
        with ``{"ok": false, "error": …}``. Use method ``"upload"`` for the upload URL.
        """
        if status is None:
            status = 200 if error else 500
        if status == 429 and retry_after is None:
            retry_after = 1
        code = error or {429: "ratelimited", 200: "fatal_error"}.get(status, "internal_error")
        queue = self._faults.setdefault(method, deque())
        queue.extend(_Fault(status, code, retry_after) for _ in range(times))

    def answer_late(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Do the next ``times`` calls of ``method`` at once (a post is stored, an edit made),
        but answer each only ``seconds`` later: a client that timed out meanwhile does not
        know Slack took it."""
        self._late.setdefault(method, deque()).extend(seconds for _ in range(times))

    def drop_answer(self, method: str, *, times: int = 1) -> None:
        """Do the next ``times`` calls of ``method``, then close the connection unanswered
        (a connection reset after the request reached Slack)."""
        self._drops[method] = self._drops.get(method, 0) + times

    def set_usergroup(self, usergroup: str, members: Sequence[str]) -> None:
        """Who ``usergroups.users.list`` says is in ``usergroup`` from now on."""
        self.workspace.usergroups[usergroup] = list(members)

    def hold(self, method: str) -> None:
        """Keep every call of ``method`` waiting (no answer) until ``release(method)``."""
        self._held.setdefault(method, asyncio.Event())

    def release(self, method: str) -> None:
        held = self._held.pop(method, None)
        if held is not None:
            held.set()

    def set_down(self, down: bool) -> None:
        """While down, every request gets HTTP 503."""
        self._down = down

    # what happened

    @property
    def ephemerals(self) -> list[Ephemeral]:
        return self.workspace.ephemerals

    @property
    def files(self) -> dict[str, SlackFile]:
        return self.workspace.files

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        return self.workspace.views

    def messages(self, channel: str) -> list[SlackMessage]:
        """Top-level messages of a channel, oldest first (thread replies are in ``thread``)."""
        return self.workspace.messages(channel)

    def thread(self, channel: str, ts: str) -> list[SlackMessage]:
        """The replies under the message ``ts`` (not the parent itself), oldest first."""
        return self.workspace.thread(channel, ts)

    def message(self, channel: str, ts: str) -> SlackMessage | None:
        return self.workspace.message(channel, ts)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [call for call in self.calls if call.method == method]

    def transcript(self, channel: str) -> str:
        """The channel and its threads as readable text (what ``triagebot demo`` prints)."""
        return self.workspace.transcript(channel)

    async def wait_for(
        self,
        predicate: str | Callable[[SlackCall], bool],
        timeout: float = 5.0,
        *,
        since: int = 0,
    ) -> SlackCall:
        """The first call from index ``since`` on that matches (a method name or a predicate).

        Waits for it to arrive if it has not yet; raises TimeoutError after ``timeout`` seconds.
        """
        matches = _by_method(predicate) if isinstance(predicate, str) else predicate
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = since
        while True:
            for call in self.calls[seen:]:
                if matches(call):
                    return call
            seen = max(seen, len(self.calls))
            remaining = deadline - loop.time()
            if remaining <= 0:
                made = ", ".join(call.method for call in self.calls) or "none"
                raise TimeoutError(f"no matching Slack call within {timeout}s; calls: {made}")
            event = self._new_call
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue

    # HTTP

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_args(request)
        held = self._held.get(method)
        if held is not None:
            await held.wait()
        token = _bearer(request)
        status, body, headers = self._answer(method, args, token)
        self._record(SlackCall(method, args, token, request.method, status, body))
        late = self._late.get(method)
        if late:
            await asyncio.sleep(late.popleft())
        if self._drops.get(method) and request.transport is not None:
            self._drops[method] -= 1
            request.transport.close()
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self, method: str, args: dict[str, Any], token: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self._down:
            return 503, {"ok": False, "error": "service_unavailable"}, {}
        if method == "apps.connections.open":
            return self._open_connection(token)
        if not token.startswith("xoxb-"):
            return 200, {"ok": False, "error": "not_authed"}, {}
        if self.token is not None and token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        fault = self._take_fault(method)
        if fault is not None:
            return _fault_answer(fault)
        if method == "views.publish":
            return 200, self._views_publish(args), {}
        try:
            return 200, {"ok": True, **self.workspace.call(method, args)}, {}
        except SlackRefusal as refusal:
            return 200, {"ok": False, "error": refusal.code}, {}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        """``views.publish``: the user's Home tab becomes ``view``."""
        view, user = args.get("view"), str(args.get("user_id") or "")
        if not isinstance(view, dict) or not user:
            return {"ok": False, "error": "invalid_arguments"}
        self.homes[user] = view
        return {"ok": True, "view": {**view, "id": f"VHOME{user}"}}

    def _open_connection(self, token: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        """``apps.connections.open``: only an app-level token gets a WebSocket URL."""
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if not token.startswith("xapp-"):
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        if self.app_token is not None and token != self.app_token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        fault = self._take_fault("apps.connections.open")
        if fault is not None:
            return _fault_answer(fault)
        return 200, {"ok": True, "url": self.socket.issue_url()}, {}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The pre-signed upload URL: no token, the raw file bytes as the body."""
        data = await request.read()
        file_id = request.match_info["file_id"]
        if self._down:
            status, text = 503, "service unavailable"
        elif (fault := self._take_fault("upload")) is not None:
            status, text = fault.status, fault.error
        elif not self.workspace.upload(file_id, data):
            status, text = 404, "unknown upload"
        else:
            status, text = 200, f"OK - {len(data)}"
        args = {"file_id": file_id, "size": len(data)}
        self._record(SlackCall("upload", args, _bearer(request), request.method, status, {}))
        return web.Response(text=text, status=status)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        return queue.popleft() if queue else None

    def _record(self, call: SlackCall) -> None:
        self.calls.append(call)
        self._new_call.set()
        self._new_call = asyncio.Event()


async def _read_args(request: web.Request) -> dict[str, Any]:
    """Query string, form fields and JSON body merged, the way Slack reads them."""
    args: dict[str, Any] = {key: request.query[key] for key in request.query}
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            args.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key in form:
            value = form[key]
            if isinstance(value, str):
                args[key] = value
            elif isinstance(value, FileField):  # an uploaded file part
                args[key] = {"filename": value.filename, "size": len(value.file.read())}
            else:
                args[key] = {"size": len(value)}
    for key in _JSON_ARGS & args.keys():
        if isinstance(args[key], str) and args[key][:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


def _fault_answer(fault: _Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    return fault.status, {"ok": False, "error": fault.error}, headers


def _by_method(method: str) -> Callable[[SlackCall], bool]:
    return lambda call: call.method == method


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
