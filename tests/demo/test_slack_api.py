"""The Slack stand-in, driven by the real slack_sdk client over HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.slack_api import FakeSlackApi

TOKEN = "xoxb-test-token"
ALARM_BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "ALARM prod-api-5xx"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Reason:* Threshold Crossed"}},
    {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}},
            {"type": "button", "text": {"type": "plain_text", "text": "Mute 1h"}},
        ],
    },
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackApi]:
    server = FakeSlackApi(usergroups={"S0ONCALL": ["U1", "U2"]})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake: FakeSlackApi) -> AsyncIterator[AsyncWebClient]:
    web = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
    yield web
    if web.session is not None:
        await web.session.close()


async def test_base_url_is_loopback_and_auth_test_names_the_bot(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/api/")
    answer = await client.auth_test()
    assert answer["user_id"] == "U0BOT"
    assert fake.calls[0].method == "auth.test"
    assert fake.calls[0].token == TOKEN


async def test_post_message_then_reply_in_its_thread(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    root = await client.chat_postMessage(channel="C1", text="ALARM", blocks=ALARM_BLOCKS)
    assert root["channel"] == "C1"
    assert root["ts"] == "1700000000.000100"
    assert root["message"]["blocks"] == ALARM_BLOCKS
    reply = await client.chat_postMessage(channel="C1", text="result", thread_ts=root["ts"])
    assert float(reply["ts"]) > float(root["ts"])

    assert [m.ts for m in fake.messages("C1")] == [root["ts"]]
    assert [m.text for m in fake.thread("C1", root["ts"])] == ["result"]
    call = fake.calls_to("chat.postMessage")[0]
    assert call.args["channel"] == "C1" and call.args["blocks"] == ALARM_BLOCKS


async def test_a_reply_to_a_reply_lands_in_the_same_thread(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    root = await client.chat_postMessage(channel="C1", text="root")
    first = await client.chat_postMessage(channel="C1", text="one", thread_ts=root["ts"])
    await client.chat_postMessage(channel="C1", text="two", thread_ts=first["ts"])
    assert [m.text for m in fake.thread("C1", root["ts"])] == ["one", "two"]


async def test_args_from_query_form_and_json_body_are_merged(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    await client.api_call(
        "chat.postMessage",
        params={"channel": "C1"},
        data={"text": "from a form", "blocks": json.dumps(ALARM_BLOCKS)},
    )
    [message] = fake.messages("C1")
    assert (message.text, message.blocks) == ("from a form", ALARM_BLOCKS)
    assert fake.calls[0].args == {"channel": "C1", "text": "from a form", "blocks": ALARM_BLOCKS}


async def test_slack_errors_for_bad_posts(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as no_text:
        await client.api_call("chat.postMessage", json={"channel": "C1"})
    assert no_text.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as no_thread:
        await client.chat_postMessage(channel="C1", text="x", thread_ts="1.000000")
    assert no_thread.value.response["error"] == "thread_not_found"


async def test_update_edits_the_message_in_place_and_keeps_history(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C1", text="Running alb-errors…")
    updated = await client.chat_update(
        channel="C1", ts=posted["ts"], text="Done", blocks=ALARM_BLOCKS
    )
    assert updated["ts"] == posted["ts"]

    [message] = fake.messages("C1")
    assert message.text == "Done"
    assert message.blocks == ALARM_BLOCKS
    assert [v.text for v in message.edits] == ["Running alb-errors…"]

    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel="C1", ts="1.000000", text="x")
    assert missing.value.response["error"] == "message_not_found"


async def test_ephemeral_is_not_a_channel_message(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    answer = await client.chat_postEphemeral(channel="C1", user="U1", text="There is no playbook")
    assert answer["message_ts"]
    assert fake.messages("C1") == []
    [ephemeral] = fake.ephemerals
    assert (ephemeral.user, ephemeral.text) == ("U1", "There is no playbook")
    assert "(only U1 sees this) There is no playbook" in fake.transcript("C1")


async def test_permalink_points_at_the_message(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="hi")
    link = await client.chat_getPermalink(channel="C1", message_ts=posted["ts"])
    assert link["permalink"].endswith("/archives/C1/p1700000000000100")


async def test_views_open_and_update(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    view = {
        "type": "modal",
        "callback_id": "triage",
        "title": {"type": "plain_text", "text": "Run a playbook"},
        "blocks": [],
    }
    opened = await client.views_open(trigger_id="123.456.abc", view=view)
    view_id = opened["view"]["id"]
    assert fake.views[view_id]["callback_id"] == "triage"

    changed = {**view, "title": {"type": "plain_text", "text": "alb-errors"}}
    await client.views_update(view_id=view_id, view=changed, hash=opened["view"]["hash"])
    assert fake.views[view_id]["title"]["text"] == "alb-errors"
    with pytest.raises(SlackApiError) as stale:
        await client.views_update(view_id=view_id, view=view, hash=opened["view"]["hash"])
    assert stale.value.response["error"] == "hash_conflict"


async def test_files_upload_v2_round_trip_attaches_the_file_to_the_thread(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    root = await client.chat_postMessage(channel="C1", text="Cost digest")
    chart = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    answer = await client.files_upload_v2(
        channel="C1",
        thread_ts=root["ts"],
        content=chart,
        filename="cost.png",
        title="Cost by service",
        initial_comment="Last 7 days",
    )
    file_id = answer["file"]["id"]
    stored = fake.files[file_id]
    assert stored.content == chart
    assert (stored.channel, stored.thread_ts, stored.title) == ("C1", root["ts"], "Cost by service")

    [reply] = fake.thread("C1", root["ts"])
    assert reply.file_ids == [file_id]
    assert reply.text == "Last 7 days"
    assert [c.method for c in fake.calls[1:]] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert f"[file: cost.png, {len(chart)} bytes]" in fake.transcript("C1")


async def test_rate_limit_is_retried_after_retry_after(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    fake.fail_next("chat.postMessage", status=429, retry_after=0)
    answer = await client.chat_postMessage(channel="C1", text="after the limit")
    assert answer["ok"]
    posts = fake.calls_to("chat.postMessage")
    assert [(c.status, c.response.get("error")) for c in posts] == [
        (429, "ratelimited"),
        (200, None),
    ]
    assert [m.text for m in fake.messages("C1")] == ["after the limit"]


async def test_rate_limit_without_a_retry_handler_is_an_error_with_retry_after(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake.fail_next("chat.update", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_update(channel="C1", ts="1.0", text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"


async def test_server_errors_then_recovery(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", status=500, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as failed:
            await client.chat_postMessage(channel="C1", text="x")
        assert failed.value.response.status_code == 500
    assert (await client.chat_postMessage(channel="C1", text="x"))["ok"]
    assert len(fake.messages("C1")) == 1


async def test_a_slack_error_code_can_be_injected(
    client: AsyncWebClient, fake: FakeSlackApi
) -> None:
    fake.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C1", text="x")
    assert refused.value.response.status_code == 200
    assert refused.value.response["error"] == "channel_not_found"


async def test_down_means_503_for_everything(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    fake.set_down(True)
    with pytest.raises(SlackApiError) as down:
        await client.auth_test()
    assert down.value.response.status_code == 503
    fake.set_down(False)
    assert (await client.auth_test())["ok"]


async def test_calls_without_a_bot_token_are_not_authed(fake: FakeSlackApi) -> None:
    anonymous = AsyncWebClient(base_url=fake.base_url)
    user_token = AsyncWebClient(token="xoxp-user-token", base_url=fake.base_url)
    try:
        for web in (anonymous, user_token):
            with pytest.raises(SlackApiError) as refused:
                await web.chat_postMessage(channel="C1", text="x")
            assert refused.value.response["error"] == "not_authed"
    finally:
        for web in (anonymous, user_token):
            if web.session is not None:
                await web.session.close()
    assert fake.messages("C1") == []


async def test_a_configured_token_refuses_others() -> None:
    async with FakeSlackApi(token="xoxb-right") as strict:
        web = AsyncWebClient(token="xoxb-wrong", base_url=strict.base_url)
        try:
            with pytest.raises(SlackApiError) as refused:
                await web.auth_test()
            assert refused.value.response["error"] == "invalid_auth"
        finally:
            if web.session is not None:
                await web.session.close()


async def test_lookups_users_groups_and_channels(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    user = await client.users_info(user="U1")
    assert user["user"]["id"] == "U1"
    members = await client.usergroups_users_list(usergroup="S0ONCALL")
    assert members["users"] == ["U1", "U2"]
    fake.set_usergroup("S0ONCALL", ["U3"])
    assert (await client.usergroups_users_list(usergroup="S0ONCALL"))["users"] == ["U3"]
    with pytest.raises(SlackApiError) as unknown:
        await client.usergroups_users_list(usergroup="S0NOBODY")
    assert unknown.value.response["error"] == "no_such_subteam"
    info = await client.conversations_info(channel="C1")
    assert info["channel"]["id"] == "C1"
    assert (await client.api_call("reactions.add", json={"name": "eyes"}))["ok"]


async def test_strict_users_and_channels() -> None:
    strict = FakeSlackApi(
        users={"U1": {"name": "ana", "tz": "Europe/Berlin"}}, channels={"C1": "ops"}
    )
    async with strict:
        web = AsyncWebClient(token=TOKEN, base_url=strict.base_url)
        assert (await web.users_info(user="U1"))["user"]["tz"] == "Europe/Berlin"
        with pytest.raises(SlackApiError) as unknown_user:
            await web.users_info(user="U9")
        assert unknown_user.value.response["error"] == "user_not_found"
        assert (await web.conversations_info(channel="C1"))["channel"]["name"] == "ops"
        with pytest.raises(SlackApiError) as unknown_channel:
            await web.chat_postMessage(channel="C9", text="x")
        assert unknown_channel.value.response["error"] == "channel_not_found"
        if web.session is not None:
            await web.session.close()


async def test_wait_for_returns_a_call_as_it_arrives(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="C1", text="first")
        await client.chat_postMessage(channel="C1", text="second")

    task = asyncio.create_task(later())
    call = await fake.wait_for(lambda c: c.args.get("text") == "second", timeout=5)
    assert call.method == "chat.postMessage"
    await task
    # a call already recorded matches at once; ``since`` skips earlier ones
    assert (await fake.wait_for("chat.postMessage")).args["text"] == "first"
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"calls: .*chat\.postMessage, chat\.postMessage$"):
        await fake.wait_for("chat.postMessage", timeout=0.2, since=len(fake.calls))
    assert time.monotonic() - started < 2


async def test_transcript_shows_the_channel_and_its_threads(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    root = await client.chat_postMessage(channel="C1", text="ALARM", blocks=ALARM_BLOCKS)
    await client.chat_postMessage(
        channel="C1", text="3 of 4 targets unhealthy", thread_ts=root["ts"]
    )
    await client.chat_update(channel="C1", ts=root["ts"], text="RESOLVED", blocks=[])
    await client.chat_postMessage(channel="C1", text="another alarm")

    assert fake.transcript("C1") == (
        "── #C1 ──\n"
        "[1700000000.000100] <U0BOT> RESOLVED\n"
        "    (edited once)\n"
        "    ↳ [1700000000.000200] <U0BOT> 3 of 4 targets unhealthy\n"
        "[1700000000.000300] <U0BOT> another alarm\n"
    )


def test_transcript_flattens_blocks() -> None:
    from bot.demo.slack_model import SlackMessage, render_transcript

    message = SlackMessage("C1", "1.000100", "fallback", list(ALARM_BLOCKS), "U0BOT")
    assert render_transcript("C1", [message], [], {}) == (
        "── #C1 ──\n"
        "[1.000100] <U0BOT> ALARM PROD-API-5XX\n"
        "    *Reason:* Threshold Crossed\n"
        "    [Acknowledge] [Mute 1h]\n"
    )
