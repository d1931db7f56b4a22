"""/triage end to end: signed requests in, what reached the fake Slack and the store out."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

from bot.demo.seed import seed_incident
from tests.slack.harness import (
    CHANNEL,
    TEST_TIMINGS,
    USER,
    Harness,
    button_payload,
    command_body,
    payload_body,
    running,
    sign,
)
from tests.support.aws_proxy import SlowAws


def _text_of(message_blocks: list[dict]) -> str:  # type: ignore[type-arg]
    return json.dumps(message_blocks, ensure_ascii=False)


async def test_alb_errors_acks_at_once_then_fills_in_the_unhealthy_targets(
    harness: Harness,
) -> None:
    started = time.monotonic()
    status, reply = await harness.command(
        f"alb-errors load_balancer={harness.incident.load_balancer}"
    )
    ack_seconds = time.monotonic() - started
    assert status == 200 and reply == {}
    assert ack_seconds < 3.0
    await harness.settle()

    [message] = harness.slack.messages(CHANNEL)
    first, final = message.edits[0] if message.edits else message, message
    assert "pending" in _text_of(list(first.blocks)) or "⏳" in _text_of(list(first.blocks))
    final_text = _text_of(final.blocks)
    stopped = harness.incident.instances[0]
    assert stopped in final_text and "Target.InvalidState" in final_text
    assert f"<@{USER}>" in final_text
    assert "triage_rerun" in final_text and "triage_details" in final_text
    assert len(harness.slack.calls_to("chat.update")) >= 1

    [record] = await harness.app.store.recent_runs(CHANNEL, 5)
    assert record.playbook == "alb-errors" and record.user == USER and record.source == "slash"
    assert record.params == {"load_balancer": "prod-web"}
    assert record.finished_at is not None and record.outcome in ("ok", "warn")
    assert record.step_statuses["targets"] in ("ok", "warn")


async def test_unknown_playbook_names_the_real_ones(harness: Harness) -> None:
    status, reply = await harness.command("nosuch")
    assert status == 200 and reply["response_type"] == "ephemeral"
    assert "There is no playbook `nosuch`" in reply["text"]
    assert "`alb-errors`" in reply["text"] and "`health`" in reply["text"]
    assert harness.slack.messages(CHANNEL) == []


async def test_misspelt_playbook_gets_a_suggestion(harness: Harness) -> None:
    _, reply = await harness.command("alb-erors")
    assert "Did you mean `alb-errors`?" in reply["text"]


async def test_bad_parameter_value_names_it_and_its_type(harness: Harness) -> None:
    _, reply = await harness.command("alb-errors load_balancer=x lookback=soon")
    assert "lookback" in reply["text"] and "duration" in reply["text"]
    assert harness.slack.messages(CHANNEL) == []


async def test_unknown_parameter_is_refused_with_the_real_ones(harness: Harness) -> None:
    _, reply = await harness.command("alb-errors load_balancr=x")
    assert "load_balancr" in reply["text"] and "load_balancer" in reply["text"]


async def test_missing_required_parameter_says_how_to_give_it(harness: Harness) -> None:
    _, reply = await harness.command("alb-errors")
    assert "load_balancer" in reply["text"] and "/triage alb-errors load_balancer=" in reply["text"]


async def test_help_and_list(harness: Harness) -> None:
    _, help_reply = await harness.command("help")
    assert "/triage history [n]" in help_reply["text"]
    _, listing = await harness.command("list")
    assert (
        "`alb-errors`" in listing["text"]
        and "/triage alb-errors [load_balancer=&lt;string&gt;]" in listing["text"]
    )
    assert (
        "restart-web` — A mutating playbook (for access-control tests). _(mutating — admins only)_"
        in listing["text"]
    )


async def _ephemeral_after(harness: Harness, text: str) -> str:
    """Send ``/triage text``: the ack is empty (the store or Slack is read after it); the answer
    is the ephemeral message that follows."""
    before = len(harness.slack.ephemerals)
    status, ack = await harness.command(text)
    assert status == 200 and ack == {}
    await harness.settle()
    [answer] = harness.slack.ephemerals[before:]
    assert answer.channel == CHANNEL and answer.user == USER
    return answer.text


async def test_history_lists_the_channels_runs(harness: Harness) -> None:
    assert "No runs in this channel yet" in await _ephemeral_after(harness, "history")
    await harness.command("recent-changes lookback=30m")
    await harness.settle()
    listed = await _ephemeral_after(harness, "history 5")
    assert "`recent-changes` lookback=30m" in listed and f"<@{USER}>" in listed
    _, bad = await harness.command("history lots")
    assert "optional count" in bad["text"]


async def test_cost_without_a_digest_says_so(harness: Harness) -> None:
    _, reply = await harness.command("cost")
    assert "No cost digest is configured" in reply["text"]


async def test_handover_takes_only_a_since_of_up_to_a_week(harness: Harness) -> None:
    for text, expected in (
        ("handover 12", "optional `since=`"),
        ("handover since=soon", "optional `since=`"),
        ("handover until=1h", "optional `since=`"),
        ("handover since=8d", "7 days at most"),
    ):
        _, reply = await harness.command(text)
        assert expected in reply["text"], text


async def test_bad_signature_is_401_and_runs_nothing(harness: Harness) -> None:
    body = command_body("alb-errors load_balancer=prod-web")
    status, _ = await harness.post(body, sign(body, secret="not-the-secret"))
    assert status == 401
    status, _ = await harness.post(body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401
    await harness.settle()
    assert harness.slack.messages(CHANNEL) == []
    assert await harness.app.store.recent_runs(CHANNEL, 5) == []


async def test_stale_timestamp_is_401(harness: Harness) -> None:
    body = command_body("help")
    status, _ = await harness.post(body, sign(body, timestamp=int(time.time()) - 6 * 60))
    assert status == 401


async def test_mutating_playbook_is_for_admins_after_a_confirm(harness: Harness) -> None:
    _, refused = await harness.command("restart-web")
    assert "only the admins" in refused["text"]
    _, ask = await harness.command("restart-web", user="U0ADMIN")
    assert "changes AWS resources. Run it?" in ask["text"]
    button = ask["blocks"][1]["elements"][0]
    assert button["confirm"]["confirm"]["text"] == "Run it"
    assert harness.slack.messages(CHANNEL) == []

    status, _ = await harness.post(
        payload_body(button_payload(button["action_id"], button["value"], user="U0ADMIN"))
    )
    assert status == 200
    await harness.settle()
    [message] = harness.slack.messages(CHANNEL)
    assert "Restart the web tier" in _text_of(message.blocks)

    status, _ = await harness.post(
        payload_body(button_payload(button["action_id"], button["value"], user=USER))
    )
    await harness.settle()
    [ephemeral] = [e for e in harness.slack.workspace.ephemerals if e.user == USER]
    assert "only the admins" in ephemeral.text
    assert len(harness.slack.messages(CHANNEL)) == 1


async def test_allow_list_with_a_user_group(harness: Harness) -> None:
    # The group's members are not known yet: the ack is empty, the refusal follows it.
    _, reply = await harness.command("oncall-only", user="U0STRANGER")
    assert reply == {}
    await harness.settle()
    [refusal] = harness.slack.ephemerals
    assert refusal.user == "U0STRANGER"
    assert "may only be run by <@U0LEAD>, <!subteam^S0ONCALL>" in refusal.text
    # Now they are known (cached): a refusal comes in the ack itself.
    _, reply = await harness.command("oncall-only", user="U0STRANGER")
    assert "may only be run by <@U0LEAD>, <!subteam^S0ONCALL>" in reply["text"]
    _, reply = await harness.command("oncall-only", user="U0MEMBER")
    assert reply == {}
    await harness.settle()
    assert len(harness.slack.messages(CHANNEL)) == 1


async def test_the_ack_never_waits_on_a_user_group_lookup_or_the_store(
    harness: Harness,
) -> None:
    harness.slack.hold("usergroups.users.list")  # Slack does not answer the lookup
    try:
        status, reply = await asyncio.wait_for(
            harness.command("oncall-only", user="U0MEMBER"), timeout=2.0
        )
        assert (status, reply) == (200, {})
        status, reply = await asyncio.wait_for(harness.command("history"), timeout=2.0)
        assert (status, reply) == (200, {})
        assert harness.slack.messages(CHANNEL) == [], "the run waits for the lookup"
    finally:
        harness.slack.release("usergroups.users.list")
    await harness.settle()
    assert len(harness.slack.messages(CHANNEL)) == 1, "the member's run went ahead after it"


async def test_channels_outside_allowed_channels_are_refused(harness: Harness) -> None:
    harness.app.deps.access._settings = harness.app.settings.access.model_copy(
        update={"allowed_channels": ("C0OTHER",)}
    )
    _, reply = await harness.command("help")
    assert "not enabled in this channel" in reply["text"] and "<#C0OTHER>" in reply["text"]


async def test_rerun_and_details_buttons(harness: Harness) -> None:
    await harness.command("recent-changes lookback=15m")
    await harness.settle()
    [record] = await harness.app.store.recent_runs(CHANNEL, 5)

    await harness.post(
        payload_body(button_payload("triage_rerun", record.run_id, ts=record.message_ts))
    )
    await harness.settle()
    replies = harness.slack.thread(CHANNEL, record.message_ts)
    assert any(
        "Recent changes" in _text_of(r.blocks) for r in replies if r.ts != record.message_ts
    ), (
        harness.slack.transcript(CHANNEL),
        harness.slack.workspace.ephemerals,
        harness.slack.calls[-3:],
    )
    runs = await harness.app.store.recent_runs(CHANNEL, 5)
    assert len(runs) == 2 and runs[0].source == "button" and runs[0].params == {"lookback": "15m"}

    await harness.post(
        payload_body(button_payload("triage_details", record.run_id, ts=record.message_ts))
    )
    await harness.settle()
    [upload] = [f for f in harness.slack.workspace.files.values() if f.content]
    assert upload.channel == CHANNEL
    assert b"recent-changes" in (upload.content or b"") or b"Recent changes" in (
        upload.content or b""
    )


async def test_rate_limited_post_is_retried(harness: Harness) -> None:
    harness.slack.fail_next("chat.postMessage", 429, retry_after=1)
    await harness.command("recent-changes")
    await harness.settle()
    posts = harness.slack.calls_to("chat.postMessage")
    assert [c.status for c in posts] == [429, 200]
    assert len(harness.slack.messages(CHANNEL)) == 1


async def test_slack_outage_during_a_run_still_records_it(harness: Harness) -> None:
    harness.slack.set_down(True)
    _, reply = await harness.command("recent-changes")
    assert reply == {}
    await harness.settle(30)
    harness.slack.set_down(False)
    [record] = await harness.app.store.recent_runs(CHANNEL, 5)
    assert record.finished_at is not None and record.outcome in ("ok", "warn", "error")
    assert harness.slack.messages(CHANNEL) == []
    assert harness.app.metrics.slack_calls.labels("chat.postMessage", "error")._value.get() >= 1


async def test_healthz_and_metrics_report_what_happened(harness: Harness) -> None:
    async with harness.http.get(f"{harness.url}/healthz") as response:
        assert response.status == 200
        health = await response.json()
    assert health["status"] == "ok" and health["store"] == "ok" and health["playbooks"] >= 10
    await harness.command("recent-changes")
    await harness.settle()
    async with harness.http.get(f"{harness.url}/metrics") as response:
        assert response.status == 200 and response.content_type == "text/plain"
        text = await response.text()
    assert 'triagebot_runs_total{outcome="warn",playbook="recent-changes"} 1.0' in text
    assert (
        'triagebot_step_duration_seconds_count{status="error",step="cloudtrail.recent_changes"} 1.0'
        in text
    )
    assert 'triagebot_slack_calls_total{method="chat.postMessage",outcome="ok"} 1.0' in text
    assert "triagebot_slack_ack_seconds_count" in text


async def test_run_buttons_act_only_on_their_own_channels_runs(harness: Harness) -> None:
    """A forged block_actions payload (a run id from another channel) re-runs nothing, uploads
    nothing, and tells the presser so."""
    await harness.command("recent-changes lookback=15m")
    await harness.settle()
    [record] = await harness.app.store.recent_runs(CHANNEL, 5)
    elsewhere = "C0ELSEWHERE"
    for action in ("triage_rerun", "triage_details"):
        await harness.post(
            payload_body(button_payload(action, record.run_id, channel=elsewhere, ts="1.000"))
        )
        await harness.settle()
    assert len(await harness.app.store.recent_runs(CHANNEL, 5)) == 1
    assert await harness.app.store.recent_runs(elsewhere, 5) == []
    assert harness.slack.messages(elsewhere) == []
    assert not [f for f in harness.slack.workspace.files.values() if f.content]
    refusals = [e for e in harness.slack.ephemerals if e.channel == elsewhere]
    assert len(refusals) == 2
    assert all("is not in this channel's history" in e.text for e in refusals)


async def test_alarm_lookup_failing_tells_the_caller(tmp_path: Path, slow_aws: SlowAws) -> None:
    """`/triage alarm NAME` while CloudWatch throttles every call: the caller hears why."""
    incident = seed_incident(slow_aws.upstream)
    slow_aws.throttle("DescribeAlarms", 100)
    timings = dataclasses.replace(TEST_TIMINGS, aws_max_attempts=2)
    async with running(tmp_path, slow_aws.url, incident, timings) as bot:
        status, ack = await bot.command("alarm prod-web-5xx")
        assert (status, ack) == (200, {})
        await bot.settle()
        [answer] = bot.slack.ephemerals
        assert answer.user == USER
        assert "Could not look up the alarm `prod-web-5xx` in CloudWatch" in answer.text
        assert bot.slack.messages(CHANNEL) == []
