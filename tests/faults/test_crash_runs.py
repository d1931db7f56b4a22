"""Runs always finish: ``triagebot serve`` killed (SIGKILL) while a playbook runs, then started
again. The playbook's one AWS call goes through a proxy that holds it for seconds, so the kill
lands mid-run; after the restart the run is resolved — an alarm's run again in its thread, a
``/triage`` run marked interrupted with an ephemeral for its caller — and no run row stays
``running``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.demo.slack_api import FakeSlackApi, SlackCall, SlackMessage
from bot.demo.slack_requests import signed_headers, slash_command_body
from bot.store.base import RunRecord
from bot.store.sqlite import SqliteStore
from tests.alarms.signing import alarm_message, notification, signer
from tests.faults.test_crash import CHANNEL, Server, eventually, post_sns
from tests.support.aws_proxy import SlowAws
from tests.support.serve_process import serve_config

LEASE_S = 2  # [store] lease: the killed process's heartbeat is gone this long after the kill
PLAYBOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "playbooks" / "crash"
SECRET = "crash-test-secret"


@pytest.fixture
def aws(moto_url: str) -> Iterator[SlowAws]:
    # The run is mid-step when the test kills it: the step's call waits far longer than the
    # test takes to see the run's message and row (6 s was not enough on a loaded machine).
    proxy = SlowAws(moto_url, delay=30.0)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def server(tmp_path: Path, aws: SlowAws) -> Iterator[Server]:
    config, port = serve_config(
        tmp_path,
        channel=CHANNEL,
        store=f'lease = "{LEASE_S}s"',
        extra=f'[playbooks]\ndirs = ["{PLAYBOOKS}"]\nshipped = false',
    )
    process = Server(config, port, tmp_path / "server.log", aws.url)
    yield process
    process.stop()


def is_run_post(call: SlackCall) -> bool:
    metadata = call.args.get("metadata") or {}
    return call.method == "chat.postMessage" and metadata["event_payload"].get("kind") == "run"


def run_messages(slack: FakeSlackApi, root: SlackMessage) -> list[SlackMessage]:
    return [
        m
        for m in slack.thread(CHANNEL, root.ts)
        if m.metadata is not None and m.metadata["event_payload"].get("kind") == "run"
    ]


async def runs_in(db: Path) -> list[RunRecord]:
    store = SqliteStore(db)
    await store.start()
    try:
        return await store.recent_runs(CHANNEL, 20)
    finally:
        await store.close()


async def running(db: Path) -> bool:
    """A run's row says it is running, with its message's ts."""
    return any(r.outcome == "running" and r.message_ts for r in await runs_in(db))


async def triage_whoami(server: Server) -> None:
    """``/triage whoami`` typed by U0ONCALL in the channel, acknowledged."""
    body = slash_command_body("whoami", user="U0ONCALL", channel=CHANNEL)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/slack/events", data=body, headers=signed_headers(body, SECRET)
        ) as response,
    ):
        assert response.status == 200


async def test_an_alarm_run_killed_mid_step_is_run_again_in_its_thread(
    server: Server, slack: FakeSlackApi, aws: SlowAws, tmp_path: Path
) -> None:
    await server.start(slack.base_url)
    assert await post_sns(server.url, signer().body(notification(alarm_message("kill-run")))) == 200
    db = tmp_path / "state.db"
    await slack.wait_for(is_run_post, timeout=30)  # the run's message is up; its step waits
    await eventually(lambda: running(db), timeout=30)  # ... and its row says so
    server.kill()
    [killed] = await runs_in(db)
    assert killed.outcome == "running"

    aws.delay = 0.0
    await server.start(slack.base_url)

    async def finished() -> bool:
        return (
            all(r.outcome != "running" for r in await runs_in(db)) and len(await runs_in(db)) == 2
        )

    await eventually(finished, timeout=LEASE_S * 3 + 30)
    [root] = [m for m in slack.messages(CHANNEL) if "kill-run" in m.text]

    def both_final() -> bool:  # the rows are final first; the messages' last edits follow
        messages = run_messages(slack, root)
        return len(messages) == 2 and "running (" not in messages[1].text

    await eventually(both_final, timeout=60)
    old, new = run_messages(slack, root)
    assert old.ts == killed.message_ts and "interrupted" in old.text, old.text
    assert "interrupted" not in new.text and "running" not in new.text, new.text
    records = {r.run_id: r for r in await runs_in(db)}
    assert records[killed.run_id].outcome == "error"
    assert [r.outcome for r in records.values() if r.run_id != killed.run_id] == ["ok"]


async def test_a_triage_run_killed_mid_step_says_interrupted_and_tells_its_caller(
    server: Server, slack: FakeSlackApi, aws: SlowAws, tmp_path: Path
) -> None:
    await server.start(slack.base_url)
    await triage_whoami(server)
    db = tmp_path / "state.db"
    await slack.wait_for(is_run_post, timeout=30)
    await eventually(lambda: running(db), timeout=30)
    server.kill()
    [killed] = await runs_in(db)
    assert killed.outcome == "running"

    aws.delay = 0.0
    await server.start(slack.base_url)
    told = await slack.wait_for("chat.postEphemeral", timeout=LEASE_S * 3 + 30)

    assert told.args["user"] == "U0ONCALL" and "interrupted" in told.args["text"]
    assert "/triage whoami" in told.args["text"]
    [record] = await runs_in(db)
    assert record.outcome == "error"
    message = slack.message(CHANNEL, killed.message_ts)
    assert message is not None and "interrupted" in message.text, message


async def test_a_triage_run_killed_while_slack_takes_its_message_is_finished_not_left_pending(
    server: Server, slack: FakeSlackApi, tmp_path: Path
) -> None:
    # Slack takes the run's first post and answers late; the process dies before the answer,
    # so it never learnt the message's ts. After the restart the message is found by its
    # delivery id and finished as interrupted: not a second message, not "pending" for ever.
    await server.start(slack.base_url)
    slack.answer_late("chat.postMessage", 8)
    await triage_whoami(server)
    await slack.wait_for(is_run_post, timeout=30)
    server.kill()

    await server.start(slack.base_url)
    told = await slack.wait_for("chat.postEphemeral", timeout=LEASE_S * 3 + 30)

    assert told.args["user"] == "U0ONCALL" and "interrupted" in told.args["text"]
    [message] = [
        m
        for m in slack.messages(CHANNEL)
        if m.metadata is not None and m.metadata["event_payload"].get("kind") == "run"
    ]
    assert "interrupted" in message.text, message.text
    [record] = await runs_in(tmp_path / "state.db")
    assert (record.outcome, record.message_ts) == ("error", message.ts)
