"""The stand-in's Socket Mode side, driven by slack_sdk's own aiohttp Socket Mode client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.slack_api import FakeSlackApi
from bot.demo.slack_socket import envelope

APP_TOKEN = "xapp-1-A0TRIAGE-1-secret"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slack"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk's socket client takes HTTP(S)_PROXY from the environment; loopback only."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackApi]:
    server = FakeSlackApi(app_token=APP_TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake: FakeSlackApi) -> AsyncIterator[SocketModeClient]:
    """A connected client that acks every envelope, echoing the payload's ``answer`` if any."""
    web = AsyncWebClient(base_url=fake.base_url)
    socket = SocketModeClient(APP_TOKEN, web_client=web, ping_interval=0.5)

    async def ack(client: Any, request: SocketModeRequest) -> None:
        answer = request.payload.get("answer")
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload=answer)
        )

    socket.socket_mode_request_listeners.append(ack)
    await socket.connect()
    yield socket
    await socket.close()
    if web.session is not None:
        await web.session.close()


async def test_connections_open_wants_the_app_token(fake: FakeSlackApi) -> None:
    with pytest.raises(SlackApiError) as refused:
        await AsyncWebClient(token="xoxb-bot", base_url=fake.base_url).apps_connections_open(
            app_token="xoxb-bot"
        )
    assert refused.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as wrong:
        await AsyncWebClient(base_url=fake.base_url).apps_connections_open(app_token="xapp-other")
    assert wrong.value.response["error"] == "invalid_auth"

    answer = await AsyncWebClient(base_url=fake.base_url).apps_connections_open(app_token=APP_TOKEN)
    assert str(answer["url"]).startswith(fake.socket.root + "/link/?ticket=")
    assert fake.socket.root.startswith("ws://127.0.0.1:")
    assert fake.calls_to("apps.connections.open")[-1].token == APP_TOKEN


async def test_hello_first_then_envelopes_acked_with_their_payloads(
    fake: FakeSlackApi, client: SocketModeClient
) -> None:
    connection = await fake.socket.wait_connected()
    assert connection.number == 1 and await client.is_connected()

    events = fixture("socket-mode-events-api-envelope.json")
    event_id = await fake.socket.push("events_api", events["payload"])
    ack = await fake.socket.wait_ack(event_id, timeout=3)
    assert ack.payload is None and ack.seconds < 3

    slash = fixture("socket-mode-slash-commands-envelope.json")
    answer = {"response_type": "ephemeral", "text": "Hi!"}
    command_id = await fake.socket.push("slash_commands", {**slash["payload"], "answer": answer})
    assert (await fake.socket.wait_ack(command_id)).payload == answer
    assert [frame["envelope_id"] for frame in connection.received] == [event_id, command_id]


def test_envelopes_and_hello_are_shaped_like_slacks() -> None:
    slash = fixture("socket-mode-slash-commands-envelope.json")
    built = envelope("slash_commands", slash["payload"], envelope_id=slash["envelope_id"])
    assert built == slash
    events = fixture("socket-mode-events-api-envelope.json")
    built_event = envelope("events_api", events["payload"])
    assert built_event.keys() == events.keys() and built_event["accepts_response_payload"] is False
    view = fixture("view-submission.payload.json")
    assert envelope("interactive", view)["accepts_response_payload"] is True
    button = fixture("block-actions-button.payload.json")
    assert envelope("interactive", button)["accepts_response_payload"] is False


async def test_hello_names_the_app_and_its_connections(fake: FakeSlackApi) -> None:
    frames: list[dict[str, Any]] = []
    got_hello = asyncio.Event()
    web = AsyncWebClient(base_url=fake.base_url)
    socket = SocketModeClient(APP_TOKEN, web_client=web, ping_interval=0.5)

    async def record(_: Any, message: dict[str, Any], raw: str | None) -> None:
        frames.append(message)
        got_hello.set()

    socket.message_listeners.append(record)
    try:
        await socket.connect()
        await asyncio.wait_for(got_hello.wait(), 3)
    finally:
        await socket.close()
        if web.session is not None:
            await web.session.close()
    hello = frames[0]
    assert hello.keys() == fixture("socket-mode-hello.json").keys() and hello["type"] == "hello"
    assert hello["connection_info"] == {"app_id": "A0TRIAGE"} and hello["num_connections"] == 1


async def test_refresh_requested_and_a_dropped_connection_both_reconnect(
    fake: FakeSlackApi, client: SocketModeClient
) -> None:
    first = await fake.socket.wait_connected()
    await fake.socket.request_refresh()
    second = await fake.socket.wait_connected(count=2)
    await fake.socket.wait_closed(first)
    assert second.number == 2 and len(fake.calls_to("apps.connections.open")) == 2

    fake.socket.refuse(True)
    fake.socket.drop()
    await fake.socket.wait_closed(second)
    assert fake.socket.current is None
    fake.socket.refuse(False)
    third = await fake.socket.wait_connected(count=3)
    probe = await fake.socket.push("events_api", {"type": "event_callback"})
    assert (await fake.socket.wait_ack(probe)).envelope_id == probe
    assert third.number == 3 and await client.is_connected()


async def test_an_unknown_ticket_is_refused(fake: FakeSlackApi) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{fake.socket.root}/link/?ticket=made-up")
    assert refused.value.status == 401
