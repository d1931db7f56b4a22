"""Check-time checks of the Jinja templates in a playbook: syntax, and that every name a template
reads exists (``params.X`` is declared, ``steps.X`` is a step this one waits for, ``alarm.X`` is an
alarm field). What can only be known at run time (the sandbox, the values) is left to run time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from jinja2 import TemplateError, TemplateSyntaxError, meta, nodes

from bot.alarms.model import ALARM_TEMPLATE_FIELDS
from bot.errors import did_you_mean
from bot.playbooks import templating
from bot.playbooks.marked_yaml import Issue, Mark

_NAMES_HINT = "use alarm, params, steps or now"


@dataclass(frozen=True)
class Scope:
    """What a template at one place in the playbook may read."""

    reader: str  # who reads, for messages: "step `b`", "the default of `lookback`"
    params: Sequence[str]  # parameters readable here
    all_params: Sequence[str]  # every declared parameter
    steps: frozenset[str] | None  # step ids readable here; None: `steps` is not available
    all_steps: Sequence[str]  # every step id
    step_id: str | None = None  # the reading step, if a step reads


def suggest(word: str, candidates: Sequence[str]) -> str:
    """``; did you mean `x`?`` for the closest candidate, or ''."""
    hint = did_you_mean(word, candidates).strip()
    return f"; d{hint[1:]}" if hint else ""


def condition_source(text: str) -> str:
    """A ``when`` as the executor sees it: a bare expression is wrapped in ``{{ }}``."""
    stripped = text.strip()
    return stripped if templating.is_template(stripped) else "{{ " + stripped + " }}"


def check_template(source: str, mark: Mark, scope: Scope) -> list[Issue]:
    """Every problem with one template string, reported at ``mark``."""
    try:
        tree = templating.parse(source)
    except templating.TemplateFailure as exc:
        return [Issue(mark, _syntax_message(source, exc))]
    messages = list(_problems(tree, scope))
    return [Issue(mark, message) for message in dict.fromkeys(messages)]


def _syntax_message(source: str, exc: templating.TemplateFailure) -> str:
    cause = exc.__cause__
    if isinstance(cause, TemplateSyntaxError) and "\n" in source.strip():
        return f"{exc} (line {cause.lineno} of the template)"
    return str(exc)


def _problems(tree: nodes.Template, scope: Scope) -> Iterator[str]:
    env = templating.environment()
    for node in tree.find_all(nodes.Filter):
        if node.name not in env.filters:
            yield f"unknown filter `{node.name}`{suggest(node.name, sorted(env.filters))}"
    for test in tree.find_all(nodes.Test):
        if test.name not in env.tests:
            yield f"unknown test `{test.name}`{suggest(test.name, sorted(env.tests))}"
    free = _free_names(tree)
    for name in sorted(free - templating.CONTEXT_NAMES):
        yield f"unknown name `{name}` in template; {_NAMES_HINT}"
    if "steps" in free and scope.steps is None:
        yield f"{scope.reader} reads `steps`, but parameters are worked out before any step runs"
    for base, attr in _context_lookups(tree, free):
        if base == "params":
            yield from _param_problem(attr, scope)
        elif base == "steps" and scope.steps is not None:
            yield from _step_problem(attr, scope, scope.steps)
        elif base == "alarm" and attr not in ALARM_TEMPLATE_FIELDS:
            hint = suggest(attr, sorted(ALARM_TEMPLATE_FIELDS)) or (
                "; alarm fields are " + ", ".join(sorted(ALARM_TEMPLATE_FIELDS))
            )
            yield f"`alarm.{attr}` is not an alarm field{hint}"


def _free_names(tree: nodes.Template) -> set[str]:
    """The names a template reads from its context (not ones it sets itself)."""
    try:
        return meta.find_undeclared_variables(tree)
    except TemplateError:  # an unknown filter or test (reported already): approximate
        stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        loaded = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
        return loaded - stored


def _context_lookups(tree: nodes.Template, free: set[str]) -> Iterator[tuple[str, str]]:
    """``(base, attr)`` for each ``alarm.x``, ``params["x"]``, ``steps.x`` read from the context."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = getattr(node, "node", None)
        if not isinstance(base, nodes.Name) or base.name not in free:
            continue
        if isinstance(node, nodes.Getattr):
            yield base.name, node.attr
        elif isinstance(node, nodes.Getitem):
            key = node.arg
            if isinstance(key, nodes.Const) and isinstance(key.value, str):
                yield base.name, key.value


def _param_problem(name: str, scope: Scope) -> Iterator[str]:
    if name in scope.params:
        return
    if name in scope.all_params:
        if scope.steps is None:  # a parameter default reading itself or a later parameter
            yield (
                f"{scope.reader} reads `params.{name}`, which is worked out after it; "
                f"declare `{name}` first"
            )
        return
    hint = suggest(name, scope.all_params) or (
        "; it declares " + ", ".join(f"`{p}`" for p in scope.all_params)
        if scope.all_params
        else "; it declares no params"
    )
    yield f"`params.{name}` is not a parameter of this playbook{hint}"


def _step_problem(name: str, scope: Scope, readable: frozenset[str]) -> Iterator[str]:
    if name not in scope.all_steps:
        yield f"`steps.{name}` is not a step of this playbook{suggest(name, scope.all_steps)}"
    elif name not in readable:
        yield f"step `{scope.step_id}` reads steps.{name} but does not list `{name}` in needs"
