"""Playbook parameters as people give them: ``/triage alb-errors lookback=2h`` in Slack,
``--param lookback=2h`` on the command line. Raw strings in, typed values out, and when something
is wrong a message that says what would work, in the syntax of where it was typed (``surface``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from bot.durations import format_duration, parse_duration
from bot.errors import ParamError, did_you_mean, echo
from bot.playbooks import templating
from bot.playbooks.schema import ParamSpec, Playbook

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})

TYPE_WORDS: Mapping[str, str] = {
    "string": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "duration": "a duration like 30s, 15m or 2h",
    "list": "a comma-separated list",
}
"""How each parameter type is described to a person."""

Surface = Literal["slack", "cli"]
"""Where parameters were typed: error messages suggest that surface's syntax."""

_EXAMPLES: Mapping[str, str] = {
    "string": "…",
    "int": "5",
    "float": "0.5",
    "bool": "true",
    "duration": "1h",
    "list": "a,b",
}


class ParamDuration(timedelta):
    """A duration parameter: a timedelta that still prints the way the person wrote it."""

    text: str

    def __new__(cls, value: timedelta, text: str) -> ParamDuration:
        self = super().__new__(
            cls, days=value.days, seconds=value.seconds, microseconds=value.microseconds
        )
        self.text = text
        return self

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"ParamDuration({self.text!r})"


def parse_kv(text: str) -> tuple[list[str], dict[str, str]]:
    """Split ``alb-errors load_balancer="my lb" lookback=2h`` into positional words and
    ``key=value`` pairs. Quotes work like a shell's (Slack's curly quotes count too)."""
    try:
        words = shlex.split(text.translate(_SMART_QUOTES))
    except ValueError:
        raise ParamError(
            f'There is an unclosed quote in `{echo(text)}`. Close it, like `load_balancer="my lb"`.'
        ) from None
    positional: list[str] = []
    pairs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            positional.append(word)
            continue
        if key in pairs:
            raise ParamError(
                f"`{echo(key)}` is given twice; give it once, like `{echo(key)}={echo(value)}`."
            )
        pairs[key] = value
    return positional, pairs


def resolve_params(
    playbook: Playbook,
    raw: Mapping[str, str],
    template_context: Mapping[str, Any],
    *,
    surface: Surface = "slack",
) -> dict[str, Any]:
    """The playbook's parameters, typed: given values converted, missing ones from their
    defaults (rendered against ``template_context``: ``alarm``, ``now``, and the params so far).

    Raises ParamError for an unknown, missing or badly typed parameter; its message shows how
    to give it on ``surface``."""
    for key in raw:
        if key not in playbook.params:
            raise ParamError(_unknown(playbook, key))
    resolved: dict[str, Any] = {}
    for name, spec in playbook.params.items():
        if name in raw and not raw[name].strip() and spec.required:
            raise ParamError(_required(playbook, name, spec, surface))
        if name in raw:
            resolved[name] = convert(playbook, name, spec, raw[name], surface=surface)
        elif spec.default is not None:
            resolved[name] = _from_default(
                playbook, name, spec, template_context, resolved, surface
            )
        elif spec.required:
            raise ParamError(_required(playbook, name, spec, surface))
        else:
            resolved[name] = None
    return resolved


def convert(
    playbook: Playbook, name: str, spec: ParamSpec, text: str, *, surface: Surface = "slack"
) -> Any:
    """One raw value to the parameter's type; ParamError (with a usage example) when it won't."""
    try:
        value = _typed(spec, text.strip())
    except ValueError:
        raise ParamError(
            f"`{name}` should be {TYPE_WORDS[spec.type]}, not `{echo(text)}`: "
            f"{_usage(playbook, name, spec, surface)}"
        ) from None
    bad = _outside_choices(spec, value)
    if bad is not None:
        raise ParamError(
            f"`{name}` cannot be `{echo(bad)}`; choose one of {_listing(spec.choices)}: "
            f"{_usage(playbook, name, spec, surface)}"
        )
    return value


def default_problem(spec: ParamSpec) -> str | None:
    """Why a literal (non-template) default does not fit its parameter, or None if it does.
    The reason reads on from "the default of `x`": `` should be a whole number, not `abc` ``."""
    value = spec.default
    if value is None or templating.is_template(value):
        return None
    try:
        typed = _typed(spec, value) if isinstance(value, str) else _checked(spec, value)
    except ValueError as exc:
        if spec.type == "duration" and isinstance(value, str):
            return f": {exc}"
        return f" should be {TYPE_WORDS[spec.type]}, not `{value}`"
    bad = _outside_choices(spec, typed)
    if bad is not None:
        return f" is `{bad}`, which is not one of its choices ({_listing(spec.choices)})"
    return None


def _typed(spec: ParamSpec, text: str) -> Any:
    if spec.type == "string":
        return text
    if spec.type == "int":
        return int(text)
    if spec.type == "float":
        return float(text)
    if spec.type == "bool":
        word = text.lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(text)
    if spec.type == "duration":
        return ParamDuration(parse_duration(text), text)
    return [item.strip() for item in text.split(",") if item.strip()]


def _checked(spec: ParamSpec, value: Any) -> Any:
    """A value YAML already typed (``default: 5``): it must be of the parameter's type."""
    fits = {
        "string": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "duration": isinstance(value, timedelta),
        "list": isinstance(value, list | tuple)
        and all(isinstance(item, str | int | float) for item in value),
    }[spec.type]
    if not fits:
        raise ValueError(value)
    if isinstance(value, timedelta) and not isinstance(value, ParamDuration):
        return ParamDuration(value, format_duration(value))
    return list(value) if isinstance(value, list | tuple) else value


def _outside_choices(spec: ParamSpec, value: Any) -> str | None:
    if not spec.choices:
        return None
    items = value if isinstance(value, list) else [value]
    for item in items:
        word = str(item).lower() if isinstance(item, bool) else str(item)
        if word not in spec.choices:
            return word
    return None


def _from_default(
    playbook: Playbook,
    name: str,
    spec: ParamSpec,
    template_context: Mapping[str, Any],
    resolved: Mapping[str, Any],
    surface: Surface,
) -> Any:
    context = {**template_context, "params": dict(resolved)}
    required = _required(playbook, name, spec, surface)
    try:
        value = templating.render_value(spec.default, context)
    except templating.TemplateFailure as exc:
        if context.get("alarm") is None and "alarm" in str(spec.default):
            why = "its default comes from the alarm, and there is none here"
            if surface == "cli":
                why += "; or give one with `--alarm FILE`"
        else:
            why = f"its default could not be worked out: {exc}"
        raise ParamError(f"{required} ({why})") from None
    if value is None or value == "" or value == []:
        if templating.is_template(spec.default):
            raise ParamError(f"{required} (its default came out empty)")
        return value
    try:
        return _typed(spec, str(value)) if isinstance(value, str) else _checked(spec, value)
    except ValueError:
        raise ParamError(
            f"`{name}` came out as `{echo(value)}` from its default, which is not "
            f"{TYPE_WORDS[spec.type]}: {_usage(playbook, name, spec, surface)}"
        ) from None


def _unknown(playbook: Playbook, key: str) -> str:
    known = list(playbook.params)
    hint = did_you_mean(key, known)
    listing = f"Its parameters: {_listing(known)}." if known else "It takes no parameters."
    return f"`{playbook.name}` has no parameter `{echo(key)}`.{hint} {listing}"


def _required(playbook: Playbook, name: str, spec: ParamSpec, surface: Surface) -> str:
    kind = TYPE_WORDS[spec.type]
    if spec.choices:
        kind += f", one of {_listing(spec.choices)}"
    return f"`{name}` is required ({kind}): {_usage(playbook, name, spec, surface)}"


def _usage(playbook: Playbook, name: str, spec: ParamSpec, surface: Surface) -> str:
    """How to give ``name`` where the person is typing: the one place that knows each syntax."""
    example = spec.choices[0] if spec.choices else _EXAMPLES[spec.type]
    if surface == "cli":
        return f"`triagebot run {playbook.name} --param {name}={example}`"
    return f"/triage {playbook.name} {name}={example}"


def _listing(words: Any) -> str:
    return ", ".join(f"`{word}`" for word in words)
