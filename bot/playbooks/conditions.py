"""Why a step's ``when`` was false, in words a person in Slack reads.

``{{ params.log_group and steps.targets.unhealthy > 0 }}`` with no log group reads as
"skipped: the `log_group` parameter is not set"; with a log group but healthy targets,
"skipped: runs only when `unhealthy` from step `targets` is more than 0; it is 0".

The condition is read as ``a and b and …``: the first part that is false is the reason. A part
is described when it is a name (``params.x``, ``steps.t.field``), ``not`` a name, or a name
compared with a constant; any other shape gets a plain "its condition was false".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from jinja2 import nodes

from bot.playbooks.templating import TemplateFailure, evaluate_condition, parse, render_string

GENERIC = "skipped: its `when` condition was false"

_OPERATORS = {
    "gt": (">", "is more than"),
    "gteq": (">=", "is at least"),
    "lt": ("<", "is less than"),
    "lteq": ("<=", "is at most"),
    "eq": ("==", "is"),
    "ne": ("!=", "is not"),
}

# One described part of a condition: its source (to evaluate), and its words given the context.
_Part = tuple[str, Callable[[Mapping[str, Any]], str]]


def skip_reason(when: str, context: Mapping[str, Any]) -> str:
    """``skipped: …`` for a ``when`` that evaluated false in ``context``."""
    parts = _parts(when)
    if parts is None:
        return GENERIC
    try:
        for source, words in parts:
            if not evaluate_condition(source, context):
                return f"skipped: {words(context)}"
    except TemplateFailure:
        return GENERIC
    return GENERIC


def _parts(when: str) -> list[_Part] | None:
    """The condition's ``and``-ed parts, each described; None when one cannot be."""
    text = when.strip()
    if text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1:
        text = text[2:-2]
    elif "{{" in text or "{%" in text:
        return None
    try:
        tree = parse("{{ " + text.strip() + " }}")
    except TemplateFailure:
        return None
    outputs = [node for node in tree.body if isinstance(node, nodes.Output)]
    if len(tree.body) != 1 or len(outputs) != 1 or len(outputs[0].nodes) != 1:
        return None
    described = [_describe(part) for part in _conjuncts(outputs[0].nodes[0])]
    return None if any(part is None for part in described) else [p for p in described if p]


def _conjuncts(node: nodes.Node) -> Iterator[nodes.Node]:
    if isinstance(node, nodes.And):
        yield from _conjuncts(node.left)
        yield from _conjuncts(node.right)
    else:
        yield node


def _describe(node: nodes.Node) -> _Part | None:
    path = _path(node)
    if path is not None:
        return _dotted(path), lambda ctx: _unset(path, _value(path, ctx))
    if isinstance(node, nodes.Not):
        inner = _path(node.node)
        if inner is None:
            return None
        return (
            f"not {_dotted(inner)}",
            lambda ctx: (
                f"runs only when {_phrase(inner)} is not set; it is {_shown(_value(inner, ctx))}"
            ),
        )
    if isinstance(node, nodes.Compare) and len(node.ops) == 1:
        left, operand = _path(node.expr), node.ops[0]
        if left is None or operand.op not in _OPERATORS:
            return None
        if not isinstance(operand.expr, nodes.Const):
            return None
        constant = operand.expr.value
        if not isinstance(constant, str | int | float | bool):
            return None
        symbol, words = _OPERATORS[operand.op]
        return (
            f"{_dotted(left)} {symbol} {_literal(constant)}",
            lambda ctx: (
                f"runs only when {_phrase(left)} {words} {_shown(constant)}; it is "
                f"{_shown(_value(left, ctx))}"
            ),
        )
    return None


def _path(node: nodes.Node) -> list[str] | None:
    """``steps.targets.unhealthy`` as ``["steps", "targets", "unhealthy"]``; None otherwise."""
    if isinstance(node, nodes.Name):
        return [node.name]
    if isinstance(node, nodes.Getattr):
        head = _path(node.node)
        return None if head is None else [*head, node.attr]
    return None


def _dotted(path: Sequence[str]) -> str:
    return ".".join(path)


def _literal(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _value(path: Sequence[str], context: Mapping[str, Any]) -> Any:
    return render_string("{{ " + _dotted(path) + " }}", context)


def _phrase(path: Sequence[str]) -> str:
    """What a path is, in words: ``the `log_group` parameter``, ```unhealthy` from step `t```."""
    head, rest = path[0], list(path[1:])
    if head == "params" and len(rest) == 1:
        return f"the `{rest[0]}` parameter"
    if head == "steps" and len(rest) == 2:
        return f"`{rest[1]}` from step `{rest[0]}`"
    if head == "steps" and len(rest) == 1:
        return f"step `{rest[0]}`"
    if head == "alarm":
        return f"the alarm's `{_dotted(rest)}`" if rest else "the alarm"
    return f"`{_dotted(path)}`"


def _unset(path: Sequence[str], value: Any) -> str:
    """Why a bare name was false: ``the `log_group` parameter is not set``."""
    if path == ["alarm"]:
        return "runs only for an alarm, and this run has none"
    return f"{_phrase(path)} is {_shown(value)}"


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict | set) and not value:
        return "empty"
    if isinstance(value, str):
        return f"`{value}`"
    return str(value)
