"""Jinja2 templates in playbooks, rendered in a sandbox.

Context: ``alarm`` (the alarm, or None), ``params`` (resolved parameters), ``steps`` (earlier
steps' ``data`` by id, plus ``status``), ``now`` (an aware UTC datetime). Undefined names are
errors (``StrictUndefined``); attribute tricks like ``''.__class__`` raise ``SecurityError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.durations import format_duration, parse_duration

CONTEXT_NAMES = frozenset({"alarm", "params", "steps", "now"})


class TemplateFailure(ValueError):
    """A template could not be parsed or rendered; the message says why, for a person."""


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    """The one sandboxed environment (immutable: templates cannot modify lists or dicts)."""
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters["duration"] = lambda v: format_duration(
        parse_duration(v) if isinstance(v, str) else v
    )
    return env


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def parse(source: str) -> nodes.Template:
    """Parse a template; raise TemplateFailure with Jinja's message on a syntax error."""
    try:
        return environment().parse(source)
    except TemplateError as exc:
        raise TemplateFailure(f"template syntax error: {exc.message}") from exc


def render_string(source: str, context: Mapping[str, Any]) -> Any:
    """Render one template string. A string that is exactly one ``{{ expr }}`` keeps its type
    (a number stays a number, a list a list); anything else renders to text."""
    env = environment()
    try:
        stripped = source.strip()
        if _single_expression(stripped):
            expr = env.compile_expression(stripped[2:-2].strip(), undefined_to_none=False)
            result = expr(**context)
            if isinstance(result, Undefined):
                result._fail_with_undefined_error()
            return result
        return env.from_string(source).render(**context)
    except TemplateError as exc:
        raise TemplateFailure(_explain(exc)) from exc


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every template inside ``value`` (strings, lists, dicts), leaving the rest alone."""
    if is_template(value):
        return render_string(value, context)
    if isinstance(value, list | tuple):
        return [render_value(item, context) for item in value]
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    return value


def evaluate_condition(source: str, context: Mapping[str, Any]) -> bool:
    """A step's ``when``: a template (``{{ steps.t.unhealthy > 0 }}``) or a bare expression."""
    text = source.strip()
    if not is_template(text):
        text = "{{ " + text + " }}"
    result = render_string(text, context)
    if isinstance(result, str):
        return result.strip().lower() not in ("", "false", "0", "none", "no")
    return bool(result)


def _single_expression(text: str) -> bool:
    return (
        text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1 and "{%" not in text
    )


def _explain(exc: TemplateError) -> str:
    message = exc.message or type(exc).__name__
    if type(exc).__name__ == "SecurityError":
        return f"template refused by the sandbox: {message}"
    if type(exc).__name__ == "UndefinedError":
        return f"template refers to something undefined: {message}"
    return f"template error: {message}"
