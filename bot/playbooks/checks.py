"""The playbook checks that go past the file's shape: step types and their ``with:`` parameters,
step ids and ``needs``, parameter defaults, the templates everywhere, and the link buttons.

Each check looks at the parts that are individually well-formed (a step that fails the schema is
reported by the schema layer and skipped here), so one mistake never hides the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from bot.playbooks import templating
from bot.playbooks.links import LINK_LABELS, link_problems
from bot.playbooks.marked_yaml import Issue, Loc, MarkedDocument
from bot.playbooks.params import default_problem
from bot.playbooks.schema import ParamSpec, StepSpec
from bot.playbooks.template_checks import Scope, check_template, condition_source, suggest
from bot.steps.registry import Registry, UnknownStep

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a map (key: value)",
    "model_type": "a map (key: value)",
    "model_attributes_type": "a map (key: value)",
    "list_type": "a list",
    "tuple_type": "a list",
}


def explain(error: ErrorDetails) -> str:
    """A pydantic error said the way a playbook author reads it, to follow the name of the
    thing: `` should be a string`` or ``: '5 mins' is not a duration; …``."""
    kind = error["type"]
    if kind in _TYPE_WORDS:
        return f" should be {_TYPE_WORDS[kind]}"
    if kind == "literal_error":
        return f" should be one of {error.get('ctx', {}).get('expected', '')}"
    if kind in ("value_error", "assertion_error"):
        return ": " + str(error.get("ctx", {}).get("error", error["msg"]))
    message = error["msg"]
    return ": " + message[:1].lower() + message[1:]


def check_semantics(doc: MarkedDocument, registry: Registry) -> list[Issue]:
    """Every problem beyond the schema, across the whole playbook."""
    data = doc.data if isinstance(doc.data, dict) else {}
    raw_params: dict[Any, Any] = _typed(data.get("params"), dict, {})
    raw_steps: list[Any] = _typed(data.get("steps"), list, [])
    param_names = [name for name in raw_params if isinstance(name, str)]
    step_ids = [s["id"] for s in raw_steps if isinstance(s, dict) and isinstance(s.get("id"), str)]
    steps = _valid_steps(raw_steps)
    issues = list(_param_defaults(doc, _valid_params(raw_params), param_names))
    issues += _duplicate_ids(doc, raw_steps)
    issues += _needs(doc, steps, step_ids)
    issues += _links(doc, data)
    upstream = _upstream({spec.id: spec.needs for _, spec in reversed(steps)})
    for index, spec in steps:
        issues += _step_type(doc, index, spec, registry, data.get("mutating") is True)
        scope = Scope(
            reader=f"step `{spec.id}`",
            params=param_names,
            all_params=param_names,
            steps=frozenset(upstream.get(spec.id, ())),
            all_steps=step_ids,
            step_id=spec.id,
        )
        if spec.when is not None:
            mark = doc.value_mark(("steps", index, "when"))
            issues += check_template(condition_source(spec.when), mark, scope)
        issues += _templates(doc, ("steps", index, "with"), spec.with_, scope)
    return issues


def _links(doc: MarkedDocument, data: Mapping[Any, Any]) -> list[Issue]:
    """``runbook_url`` and ``dashboard_url``: URLs, or templates reading only the alarm."""
    issues = []
    for key in LINK_LABELS:
        value = data.get(key)
        if isinstance(value, str):
            mark = doc.value_mark((key,))
            issues += [Issue(mark, f"`{key}`: {problem}") for problem in link_problems(value)]
    return issues


def _typed(value: Any, kind: type, empty: Any) -> Any:
    return value if isinstance(value, kind) else empty


def _valid_params(raw: Mapping[Any, Any]) -> dict[str, ParamSpec]:
    valid: dict[str, ParamSpec] = {}
    for name, spec in raw.items():
        try:
            valid[str(name)] = ParamSpec.model_validate(spec)
        except ValidationError:
            continue  # the schema layer reports it
    return valid


def _valid_steps(raw: Sequence[Any]) -> list[tuple[int, StepSpec]]:
    valid = []
    for index, item in enumerate(raw):
        try:
            valid.append((index, StepSpec.model_validate(item)))
        except ValidationError:
            continue  # the schema layer reports it
    return valid


def _param_defaults(
    doc: MarkedDocument, params: Mapping[str, ParamSpec], names: Sequence[str]
) -> Iterator[Issue]:
    for name, spec in params.items():
        loc: Loc = ("params", name, "default")
        problem = default_problem(spec)
        if problem:
            yield Issue(doc.value_mark(loc), f"the default of `{name}`{problem}")
        scope = Scope(
            reader=f"the default of `{name}`",
            params=names[: names.index(name)] if name in names else (),
            all_params=names,
            steps=None,
            all_steps=(),
        )
        yield from _templates(doc, loc, spec.default, scope)


def _templates(doc: MarkedDocument, loc: Loc, value: Any, scope: Scope) -> list[Issue]:
    """Check every template string inside ``value`` (a string, list or map)."""
    if templating.is_template(value):
        return check_template(value, doc.value_mark(loc), scope)
    issues: list[Issue] = []
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            issues += _templates(doc, (*loc, i), item, scope)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            issues += _templates(doc, (*loc, key), item, scope)
    return issues


def _has_template(value: Any) -> bool:
    if templating.is_template(value):
        return True
    if isinstance(value, list | tuple):
        return any(_has_template(item) for item in value)
    if isinstance(value, Mapping):
        return any(_has_template(item) for item in value.values())
    return False


def _duplicate_ids(doc: MarkedDocument, raw_steps: Sequence[Any]) -> Iterator[Issue]:
    first: dict[str, int] = {}
    for index, item in enumerate(raw_steps):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        mark = doc.value_mark(("steps", index, "id"))
        step_id = item["id"]
        if step_id in first:
            message = f"duplicate step id `{step_id}` (first used on line {first[step_id]})"
            yield Issue(mark, message)
        else:
            first[step_id] = mark.line


def _needs(
    doc: MarkedDocument, steps: Sequence[tuple[int, StepSpec]], step_ids: Sequence[str]
) -> Iterator[Issue]:
    index_of: dict[str, int] = {}
    for index, spec in steps:
        index_of.setdefault(spec.id, index)
        for j, need in enumerate(spec.needs):
            if need not in step_ids:
                yield Issue(
                    doc.value_mark(("steps", index, "needs", j)),
                    f"step `{spec.id}` needs `{need}`, but there is no step `{need}`"
                    f"{suggest(need, step_ids)}",
                )
    graph = {spec.id: spec.needs for _, spec in reversed(steps)}  # first definition wins
    for cycle in needs_cycles(graph, [spec.id for _, spec in steps]):
        yield Issue(
            doc.key_mark(("steps", index_of[cycle[0]], "needs")),
            "dependency cycle: " + " → ".join((*cycle, cycle[0])),
        )


def needs_cycles(graph: Mapping[str, Sequence[str]], order: Sequence[str]) -> list[tuple[str, ...]]:
    """Each cycle of ``needs`` once, starting at its member that comes first in the file (the
    loader reports them; a run skips their steps)."""
    position = {step_id: i for i, step_id in reversed(list(enumerate(order)))}
    found: dict[frozenset[str], tuple[str, ...]] = {}
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = path[path.index(node) :]
            start = min(range(len(cycle)), key=lambda i: position[cycle[i]])
            found.setdefault(frozenset(cycle), tuple(cycle[start:] + cycle[:start]))
            return
        if node in done or node not in graph:
            return
        path.append(node)
        for need in graph[node]:
            visit(need, path)
        path.pop()
        done.add(node)

    for step_id in order:
        visit(step_id, [])
    return list(found.values())


def _upstream(graph: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """For each step, every step it waits for, directly or through others."""
    result: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            step_id = todo.pop()
            if step_id not in seen:
                seen.add(step_id)
                todo.extend(graph.get(step_id, ()))
        result[start] = seen
    return result


def _step_type(
    doc: MarkedDocument, index: int, spec: StepSpec, registry: Registry, mutating: bool
) -> Iterator[Issue]:
    loc: Loc = ("steps", index)
    try:
        step_type = registry.get(spec.uses)
    except UnknownStep as exc:
        yield Issue(doc.value_mark((*loc, "uses")), exc.message)
        return
    if step_type.mutating and not mutating:
        yield Issue(
            doc.value_mark((*loc, "uses")),
            f"step `{spec.id}` uses `{spec.uses}`, which changes AWS; "
            "add `mutating: true` to the playbook (then only admins can run it, after a confirm)",
        )
    fields = {field.alias or name: field for name, field in step_type.params.model_fields.items()}
    for key, value in spec.with_.items():
        field = fields.get(key)
        if field is None:
            yield Issue(
                doc.key_mark((*loc, "with", key)),
                f"unknown parameter `{key}` for `{spec.uses}` in step `{spec.id}`"
                f"{suggest(key, list(fields)) or _known(fields)}",
            )
            continue
        if _has_template(value):
            continue  # checked when the template has been rendered, at run time
        annotation: Any = field.annotation
        if field.metadata:
            annotation = Annotated[(annotation, *field.metadata)]
        try:
            TypeAdapter(annotation).validate_python(value)
        except ValidationError as exc:
            yield Issue(
                doc.value_mark((*loc, "with", key)),
                f"`{key}` in step `{spec.id}`{explain(exc.errors()[0])}",
            )
    for key in (k for k, field in fields.items() if field.is_required()):
        if key in spec.with_:
            continue
        where = (*loc, "with") if "with" in _raw(doc, loc) else (*loc, "uses")
        yield Issue(
            doc.key_mark(where),
            f"step `{spec.id}` is missing required parameter `{key}` of `{spec.uses}`",
        )


def _known(fields: Mapping[str, Any]) -> str:
    if not fields:
        return "; it takes no parameters"
    return "; it takes " + ", ".join(f"`{key}`" for key in fields)


def _raw(doc: MarkedDocument, loc: Loc) -> Any:
    value = doc.data
    for part in loc:
        value = value[part]
    return value
