"""Parameters as people type them in Slack and on the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.alarms.model import Alarm, AlarmSource
from bot.errors import ParamError
from bot.playbooks.params import parse_kv, resolve_params
from bot.playbooks.schema import Playbook

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def playbook(**params: dict[str, Any]) -> Playbook:
    return Playbook.model_validate(
        {"name": "alb-errors", "params": params, "steps": [{"id": "a", "uses": "x"}]}
    )


def context(alarm: Alarm | None = None) -> dict[str, Any]:
    return {"alarm": alarm.template_context() if alarm else None, "now": NOW, "params": {}}


ALB = playbook(
    load_balancer={"type": "string", "default": "{{ alarm.dimensions.LoadBalancer }}"},
    lookback={"type": "duration", "default": "1h"},
    tries={"type": "int", "default": 2},
    ratio={"type": "float"},
    verbose={"type": "bool", "default": False},
    zones={"type": "list"},
    tier={"choices": ["web", "db"]},
)


def test_parse_kv_splits_words_and_pairs_with_quotes() -> None:
    words, pairs = parse_kv('alb-errors load_balancer="my lb" lookback=2h extra')
    assert words == ["alb-errors", "extra"]
    assert pairs == {"load_balancer": "my lb", "lookback": "2h"}


def test_parse_kv_accepts_slack_curly_quotes_and_empty_values() -> None:
    words, pairs = parse_kv("alb-errors note=\u201cit broke\u201d tier=")
    assert words == ["alb-errors"]
    assert pairs == {"note": "it broke", "tier": ""}


def test_parse_kv_value_may_hold_an_equals_sign() -> None:
    assert parse_kv("q=a=b")[1] == {"q": "a=b"}


def test_parse_kv_unclosed_quote_is_a_param_error() -> None:
    with pytest.raises(ParamError) as caught:
        parse_kv('alb-errors load_balancer="my lb')
    assert "unclosed quote" in caught.value.user_message


def test_parse_kv_refuses_a_key_given_twice() -> None:
    with pytest.raises(ParamError, match="`lookback` is given twice"):
        parse_kv("x lookback=1h lookback=2h")


def test_values_are_converted_by_type() -> None:
    raw = {
        "load_balancer": "app/web/123",
        "lookback": "2h",
        "tries": "5",
        "ratio": "0.25",
        "verbose": "Yes",
        "zones": "a, b,,c",
        "tier": "db",
    }
    params = resolve_params(ALB, raw, context())
    assert params["load_balancer"] == "app/web/123"
    assert params["lookback"] == timedelta(hours=2)
    assert str(params["lookback"]) == "2h"  # the human form survives
    assert params["tries"] == 5
    assert params["ratio"] == 0.25
    assert params["verbose"] is True
    assert params["zones"] == ["a", "b", "c"]
    assert params["tier"] == "db"


@pytest.mark.parametrize(
    ("word", "value"), [("true", True), ("no", False), ("1", True), ("0", False)]
)
def test_bool_words(word: str, value: bool) -> None:
    assert (
        resolve_params(ALB, {"verbose": word, "load_balancer": "x"}, context())["verbose"] is value
    )


def test_defaults_come_from_the_alarm_and_the_playbook() -> None:
    alarm = Alarm(
        source=AlarmSource.ALARM, name="prod-5xx", dimensions={"LoadBalancer": "app/web/abc"}
    )
    params = resolve_params(ALB, {}, context(alarm))
    assert params["load_balancer"] == "app/web/abc"
    assert params["lookback"] == timedelta(hours=1)
    assert params["tries"] == 2
    assert params["verbose"] is False
    assert params["ratio"] is None and params["zones"] is None


def test_defaults_may_read_earlier_params() -> None:
    book = playbook(
        lookback={"type": "duration", "default": "30m"},
        label={"default": "last {{ params.lookback | duration }}"},
    )
    assert resolve_params(book, {"lookback": "90m"}, context())["label"] == "last 1h30m"


def test_unknown_param_names_it_with_a_suggestion() -> None:
    with pytest.raises(ParamError) as caught:
        resolve_params(ALB, {"lookbak": "2h"}, context())
    assert caught.value.user_message == (
        "`alb-errors` has no parameter `lookbak`. Did you mean `lookback`? Its parameters: "
        "`load_balancer`, `lookback`, `tries`, `ratio`, `verbose`, `zones`, `tier`."
    )


def test_param_on_a_playbook_without_params() -> None:
    with pytest.raises(ParamError, match="It takes no parameters"):
        resolve_params(playbook(), {"x": "1"}, context())


def test_default_from_a_missing_alarm_makes_it_required() -> None:
    with pytest.raises(ParamError) as caught:
        resolve_params(ALB, {}, context())
    assert caught.value.user_message.startswith(
        "`load_balancer` is required (a string): /triage alb-errors load_balancer=…"
    )
    assert "there is none" in caught.value.user_message


def test_default_from_an_alarm_without_that_dimension_makes_it_required() -> None:
    alarm = Alarm(source=AlarmSource.ALARM, name="cpu", dimensions={"InstanceId": "i-1"})
    with pytest.raises(ParamError, match=r"^`load_balancer` is required \(a string\)"):
        resolve_params(ALB, {}, context(alarm))


def test_required_param_without_default() -> None:
    book = playbook(function={"required": True, "description": "Lambda name"})
    with pytest.raises(ParamError) as caught:
        resolve_params(book, {}, context())
    assert caught.value.user_message == (
        "`function` is required (a string): /triage alb-errors function=…"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"tries": "lots"},
            "`tries` should be a whole number, not `lots`: /triage alb-errors tries=5",
        ),
        (
            {"lookback": "2 hours"},
            "`lookback` should be a duration like 30s, 15m or 2h, not `2 hours`: "
            "/triage alb-errors lookback=1h",
        ),
        (
            {"verbose": "maybe"},
            "`verbose` should be true or false, not `maybe`: /triage alb-errors verbose=true",
        ),
        (
            {"tier": "cache"},
            "`tier` cannot be `cache`; choose one of `web`, `db`: /triage alb-errors tier=web",
        ),
    ],
)
def test_bad_values_say_what_would_work(raw: dict[str, str], message: str) -> None:
    with pytest.raises(ParamError) as caught:
        resolve_params(ALB, {"load_balancer": "x", **raw}, context())
    assert caught.value.user_message == message


def test_list_choices_apply_to_each_item() -> None:
    book = playbook(zones={"type": "list", "choices": ["a", "b"]})
    assert resolve_params(book, {"zones": "a,b"}, context())["zones"] == ["a", "b"]
    with pytest.raises(ParamError, match="`zones` cannot be `c`"):
        resolve_params(book, {"zones": "a,c"}, context())


def test_a_required_param_given_empty_is_still_missing() -> None:
    book = playbook(function={"required": True})
    with pytest.raises(ParamError, match=r"^`function` is required"):
        resolve_params(book, {"function": " "}, context())
