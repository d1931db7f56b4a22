"""The ``/triage`` modal end to end: signed ``/triage`` → ``views.open``; choosing a playbook →
``views.update`` with one input per parameter; submitting → a run, or errors under the right
block. Plus the pure view builder against Slack's limits."""

from __future__ import annotations

import json
from typing import Any

from bot.playbooks.schema import ParamSpec, Playbook, StepSpec
from bot.slack.modal import parameter_view, playbook_modal, read_metadata, read_submission
from tests.slack.harness import CHANNEL, USER, Harness, payload_body

Json = dict[str, Any]
TEAM = {"id": "T1DC2JH3J", "domain": "testteamnow"}


def _user(user: str) -> Json:
    return {"id": user, "username": "oncall", "team_id": TEAM["id"]}


def _block(view: Json, block_id: str) -> Json:
    blocks: list[Json] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    [block] = blocks
    return block


def _input_ids(view: Json) -> list[str]:
    return [b["block_id"] for b in view["blocks"] if b["type"] == "input"]


def _state(view: Json, playbook: str | None, params: dict[str, str]) -> Json:
    """What Slack puts in ``view.state``: the selection and what was typed, keyed by the view's
    own block and action ids."""
    values: Json = {}
    select = _block(view, "playbook")["element"]
    if playbook is not None:
        option = {"text": {"type": "plain_text", "text": playbook}, "value": playbook}
        values["playbook"] = {
            select["action_id"]: {"type": "static_select", "selected_option": option}
        }
    for name, text in params.items():
        element = _block(view, f"param:{name}")["element"]
        action: Json = {"type": element["type"]}
        if element["type"] == "plain_text_input":
            action["value"] = text
        else:
            action["selected_option"] = {
                "text": {"type": "plain_text", "text": text},
                "value": text,
            }
        values[f"param:{name}"] = {element["action_id"]: action}
    return {"values": values}


async def _open(harness: Harness, user: str = USER) -> Json:
    """``/triage`` with no text; the view as the fake Slack holds it (with its id and hash)."""
    since = len(harness.slack.calls)
    status, reply = await harness.command("", user=user)
    assert status == 200 and reply == {}
    call = await harness.slack.wait_for("views.open", since=since)
    assert call.ok and call.args["trigger_id"]
    view: Json = call.response["view"]
    return view


async def _choose(harness: Harness, view: Json, playbook: str, user: str = USER) -> Json:
    """Pick ``playbook`` in the select; the view after the bot's ``views.update``."""
    since = len(harness.slack.calls)
    payload = {
        "type": "block_actions",
        "user": _user(user),
        "api_app_id": "A0TRIAGE",
        "token": "verification_token",
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": "111.222.valid",
        "team": TEAM,
        "view": {**view, "state": _state(view, playbook, {})},
        "actions": [
            {
                "type": "static_select",
                "action_id": "playbook_select",
                "block_id": "playbook",
                "selected_option": {
                    "text": {"type": "plain_text", "text": playbook},
                    "value": playbook,
                },
                "action_ts": "1.2",
            }
        ],
    }
    status, body = await harness.post(payload_body(payload))
    assert status == 200 and body.strip() in ("", "{}")
    await harness.slack.wait_for("views.update", since=since)
    await harness.settle()
    updated: Json = harness.slack.views[view["id"]]
    return updated


async def _submit(
    harness: Harness,
    view: Json,
    playbook: str | None,
    params: dict[str, str] | None = None,
    user: str = USER,
) -> Json:
    """Press Run; the HTTP answer (``{}`` when the modal may close)."""
    payload = {
        "type": "view_submission",
        "team": TEAM,
        "user": _user(user),
        "api_app_id": "A0TRIAGE",
        "token": "verification_token",
        "trigger_id": "1.2.3",
        "view": {**view, "state": _state(view, playbook, params or {})},
    }
    status, body = await harness.post(payload_body(payload))
    assert status == 200
    answer: Json = json.loads(body) if body.strip() else {}
    return answer


def _assert_within_slack_limits(view: Json) -> None:
    assert len(view["blocks"]) <= 100
    assert len(view["private_metadata"]) <= 3000
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        assert len(block["label"]["text"]) <= 2000 and len(block["block_id"]) <= 255
        assert len(block.get("hint", {}).get("text", "")) <= 2000
        element = block["element"]
        assert len(element.get("placeholder", {}).get("text", "")) <= 150
        assert len(element.get("options", [])) <= 100
        for option in element.get("options", []):
            assert len(option["text"]["text"]) <= 75 and len(option["value"]) <= 150
            assert len(option.get("description", {}).get("text", "")) <= 75


async def test_choosing_a_playbook_shows_one_input_per_parameter(harness: Harness) -> None:
    view = await _open(harness)
    select = _block(view, "playbook")
    assert select["type"] == "input" and select["dispatch_action"] is True
    options = {o["value"]: o for o in select["element"]["options"]}
    assert options["alb-errors"]["description"]["text"] == "ALB 5xx errors"
    assert list(options) == sorted(options)
    assert _input_ids(view) == ["playbook"]
    assert json.loads(view["private_metadata"])["channel"] == CHANNEL
    _assert_within_slack_limits(view)

    updated = await _choose(harness, view, "alb-errors")
    [call] = harness.slack.calls_to("views.update")
    assert call.ok and call.args["view_id"] == view["id"] and call.args["hash"] == view["hash"]
    assert _input_ids(updated) == [
        "playbook",
        "param:load_balancer",
        "param:lookback",
        "param:log_group",
    ]
    assert "Why is the load balancer returning errors?" in json.dumps(updated["blocks"])
    assert _block(updated, "playbook")["element"]["initial_option"]["value"] == "alb-errors"
    assert json.loads(updated["private_metadata"]) == {"channel": CHANNEL, "playbook": "alb-errors"}

    load_balancer = _block(updated, "param:load_balancer")
    assert load_balancer["label"]["text"] == "load_balancer"
    assert load_balancer["element"]["type"] == "plain_text_input"
    assert "Load balancer name, ARN" in load_balancer["hint"]["text"]
    assert "filled from the alarm when there is one" in load_balancer["hint"]["text"]
    assert "placeholder" not in load_balancer["element"]  # the template is not shown as a value

    lookback = _block(updated, "param:lookback")
    assert "a duration like 30s, 15m or 2h" in lookback["hint"]["text"]
    assert "How far back" in lookback["hint"]["text"]
    assert lookback["element"]["placeholder"]["text"] == "Default: 1h"
    assert lookback["optional"] is True

    log_group = _block(updated, "param:log_group")
    assert log_group["optional"] is True and "(a string)" in log_group["hint"]["text"]
    _assert_within_slack_limits(updated)


async def test_required_parameter_without_default_is_not_optional(harness: Harness) -> None:
    view = await _choose(harness, await _open(harness), "access-denied")
    actions = _block(view, "param:actions")
    assert actions["optional"] is False and "a comma-separated list" in actions["hint"]["text"]
    assert _block(view, "param:resources")["optional"] is True


async def test_submission_runs_like_the_slash_command(harness: Harness) -> None:
    view = await _choose(harness, await _open(harness), "alb-errors")
    answer = await _submit(harness, view, "alb-errors", {"load_balancer": "prod-web"})
    assert answer == {}
    await harness.settle()
    [message] = harness.slack.messages(CHANNEL)
    final = json.dumps(message.blocks)
    assert harness.incident.instances[0] in final and "Target.InvalidState" in final
    assert f"<@{USER}>" in final
    [record] = await harness.app.store.recent_runs(CHANNEL, 5)
    assert record.source == "modal" and record.playbook == "alb-errors"
    assert record.params == {"load_balancer": "prod-web"}  # empty inputs are not sent


async def test_bad_duration_is_shown_under_its_input(harness: Harness) -> None:
    view = await _choose(harness, await _open(harness), "alb-errors")
    answer = await _submit(
        harness, view, "alb-errors", {"load_balancer": "prod-web", "lookback": "soon"}
    )
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == ["param:lookback"]
    error = answer["errors"]["param:lookback"]
    assert "`lookback` should be a duration like 30s, 15m or 2h, not `soon`" in error
    assert len(error) <= 150 and "/triage" not in error
    await harness.settle()
    assert harness.slack.messages(CHANNEL) == []
    assert await harness.app.store.recent_runs(CHANNEL, 5) == []


async def test_missing_parameter_is_shown_under_its_input(harness: Harness) -> None:
    view = await _choose(harness, await _open(harness), "alb-errors")
    answer = await _submit(harness, view, "alb-errors", {"lookback": "2h"})
    error = answer["errors"]["param:load_balancer"]
    assert "`load_balancer` is required" in error and "alarm" in error and len(error) <= 150

    view = await _choose(harness, await _open(harness), "access-denied")
    answer = await _submit(harness, view, "access-denied", {"principal_arn": "arn:aws:iam::1:u"})
    assert list(answer["errors"]) == ["param:actions"]
    assert "`actions` is required" in answer["errors"]["param:actions"]
    await harness.settle()
    assert harness.slack.messages(CHANNEL) == []


async def test_submitting_without_a_playbook_asks_for_one(harness: Harness) -> None:
    view = await _open(harness)
    answer = await _submit(harness, view, None)
    assert answer == {
        "response_action": "errors",
        "errors": {"playbook": "Choose a playbook to run."},
    }


async def test_unknown_playbook_is_shown_under_the_select(harness: Harness) -> None:
    view = await _open(harness)
    answer = await _submit(harness, view, "alb-erors")
    assert "Did you mean `alb-errors`?" in answer["errors"]["playbook"]


async def test_a_stale_update_never_runs_another_playbooks_form(harness: Harness) -> None:
    view = await _open(harness)
    shown = await _choose(harness, view, "alb-errors")
    # A second choice sent with the first view's hash: Slack refuses the stale update.
    await _choose(harness, view, "health")
    [stale] = harness.slack.calls_to("views.update")[1:]
    assert stale.response["error"] == "hash_conflict"
    answer = await _submit(harness, shown, "health", {"load_balancer": "prod-web"})
    assert "`health` are still loading" in answer["errors"]["playbook"]
    assert await harness.app.store.recent_runs(CHANNEL, 5) == []


async def test_mutating_playbook_from_an_admin_asks_to_confirm(harness: Harness) -> None:
    view = await _choose(harness, await _open(harness, "U0ADMIN"), "restart-web", "U0ADMIN")
    assert _input_ids(view) == ["playbook"]
    assert "admins only" in json.dumps(view["blocks"])
    answer = await _submit(harness, view, "restart-web", user="U0ADMIN")
    assert answer == {}
    await harness.settle()
    [ask] = harness.slack.ephemerals
    assert ask.user == "U0ADMIN" and ask.channel == CHANNEL
    assert "changes AWS resources" in ask.text
    assert "triage_confirm_run" in json.dumps(ask.blocks)
    assert harness.slack.messages(CHANNEL) == []


async def test_mutating_playbook_from_anyone_else_is_refused(harness: Harness) -> None:
    view = await _choose(harness, await _open(harness), "restart-web")
    assert await _submit(harness, view, "restart-web") == {}
    await harness.settle()
    [refusal] = harness.slack.ephemerals
    assert refusal.user == USER and "triage_confirm_run" not in json.dumps(refusal.blocks)
    assert harness.slack.messages(CHANNEL) == []


# The view builder alone.


def _playbook(name: str = "deploy-check", **params: ParamSpec) -> Playbook:
    return Playbook(
        name=name,
        title=f"Check {name}",
        description="Checks things.",
        params=params,
        steps=(StepSpec(id="whoami", uses="sts.caller_identity"),),
    )


def test_element_follows_the_parameter_type() -> None:
    playbook = _playbook(
        verbose=ParamSpec(type="bool", default=False),
        env=ParamSpec(choices=("prod", "staging"), default="prod", required=True),
        zones=ParamSpec(type="list", choices=("a", "b", "c"), default=["a", "c"]),
        count=ParamSpec(type="int", default=5, description="How many"),
        since=ParamSpec(type="string", default="{{ now }}"),
        service=ParamSpec(required=True),
    )
    view = parameter_view([playbook], "C1", playbook)

    verbose = _block(view, "param:verbose")["element"]
    assert verbose["type"] == "static_select"
    assert [o["value"] for o in verbose["options"]] == ["true", "false"]
    assert verbose["initial_option"]["value"] == "false"

    env = _block(view, "param:env")
    assert env["element"]["type"] == "static_select" and env["optional"] is True
    assert [o["value"] for o in env["element"]["options"]] == ["prod", "staging"]
    assert env["element"]["initial_option"]["value"] == "prod"
    assert "one of prod, staging" in env["hint"]["text"]

    zones = _block(view, "param:zones")["element"]
    assert zones["type"] == "multi_static_select"
    assert [o["value"] for o in zones["initial_options"]] == ["a", "c"]

    count = _block(view, "param:count")
    assert count["element"]["placeholder"]["text"] == "Default: 5"
    assert count["hint"]["text"] == "How many. (a whole number)"

    since = _block(view, "param:since")
    assert "worked out when left empty" in since["hint"]["text"]
    assert "placeholder" not in since["element"]

    assert _block(view, "param:service")["optional"] is False
    _assert_within_slack_limits(view)


def test_selects_read_back_as_the_text_a_person_would_type() -> None:
    playbook = _playbook(
        verbose=ParamSpec(type="bool"),
        zones=ParamSpec(type="list", choices=("a", "b", "c")),
        note=ParamSpec(),
    )
    view = parameter_view([playbook], "C1", playbook)
    values = {
        "playbook": {"playbook_select": {"selected_option": {"value": "deploy-check"}}},
        "param:verbose": {"value_choice": {"selected_option": {"value": "true"}}},
        "param:zones": {"value_choices": {"selected_options": [{"value": "a"}, {"value": "b"}]}},
        "param:note": {"value_text": {"value": "   "}},
    }
    submission = read_submission({**view, "state": {"values": values}})
    assert submission.playbook == submission.shown == "deploy-check"
    assert submission.channel == "C1"
    assert submission.params == {"verbose": "true", "zones": "a,b"}


def test_huge_catalogs_and_playbooks_stay_within_slack_limits() -> None:
    long = "x" * 3000
    params = {
        f"p{i}": ParamSpec(description=long, default=long, choices=tuple(f"c{j}" for j in range(3)))
        for i in range(150)
    }
    params["free"] = ParamSpec(default=long, description=long)
    big = Playbook(
        name="big",
        title=long,
        description=long,
        params=params,
        steps=(StepSpec(id="whoami", uses="sts.caller_identity"),),
    )
    many = [_playbook(f"pb-{i:03d}") for i in range(150)]
    first = playbook_modal([*many, big], "C1")
    _assert_within_slack_limits(first)
    assert len(_block(first, "playbook")["element"]["options"]) == 100

    view = parameter_view([*many, big], "C1", big)
    _assert_within_slack_limits(view)
    assert _block(view, "playbook")["element"]["initial_option"]["value"] == "big"
    assert "big" in [o["value"] for o in _block(view, "playbook")["element"]["options"]]
    assert len(view["blocks"][1]["text"]["text"]) <= 3000


def test_a_bare_channel_as_metadata_still_reads() -> None:
    assert read_metadata({"private_metadata": "C0OLD"}) == ("C0OLD", "")
    assert read_metadata({"private_metadata": '{"channel": "C1", "playbook": "x"}'}) == ("C1", "x")
