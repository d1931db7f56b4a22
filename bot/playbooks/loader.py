"""Load a playbook file into a validated ``Playbook``, or say everything that is wrong with it.

The one loader behind ``triagebot check`` and ``serve``. It validates in layers, each problem
pointing at its line and column: YAML syntax; duplicate keys; the schema (unknown, missing and
mistyped keys); then each step against its step type, the ``needs`` graph, parameter defaults and
every template (see ``checks`` and ``template_checks``). It collects all problems, not the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.errors import PlaybookInvalid
from bot.playbooks.checks import check_semantics, explain
from bot.playbooks.marked_yaml import Issue, Loc, Mark, MarkedDocument, parse_marked
from bot.playbooks.schema import ParamSpec, Playbook, StepSpec
from bot.playbooks.template_checks import suggest
from bot.steps.registry import Registry

_PATTERN_HINTS: dict[Loc, str] = {
    ("name",): "playbook name `{}` should be lowercase letters, digits and -, like `alb-errors`",
    ("id",): "step id `{}` should be lower_snake_case (a-z, 0-9, _), like `target_health`",
}


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a playbook file, where an editor can jump to it."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


def load_playbook(path: Path, registry: Registry) -> Playbook:
    """The validated playbook in ``path``; PlaybookInvalid listing every problem otherwise."""
    playbook, problems = check_playbook(path, registry)
    if playbook is None:
        raise PlaybookInvalid([str(problem) for problem in problems])
    return playbook


def check_playbook(path: Path, registry: Registry) -> tuple[Playbook | None, list[Problem]]:
    """The playbook (None if anything is wrong) and every problem, sorted by position."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        return None, [Problem(str(path), 1, 1, f"cannot read the playbook: {reason}")]
    playbook, issues = validate_text(text, str(path), registry)
    problems = sorted(
        {Problem(str(path), i.mark.line, i.mark.col, i.message) for i in issues},
        key=lambda p: (p.line, p.col, p.message),
    )
    return (playbook if not problems else None), problems


def validate_text(
    text: str, source: str, registry: Registry
) -> tuple[Playbook | None, list[Issue]]:
    """Validate a playbook's YAML text (``source`` names where it came from)."""
    doc, issues = parse_marked(text)
    if doc is None:
        return None, issues
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else "a single value"
        return None, [
            *issues,
            Issue(doc.value_mark(()), f"a playbook is a map (name:, steps:, …), not {kind}"),
        ]
    data = dict(doc.data)
    if "source" in data:  # set by the loader, never by the file
        issues.append(Issue(doc.key_mark(("source",)), _unknown_key(("source",), doc)))
        del data["source"]
    playbook: Playbook | None = None
    try:
        playbook = Playbook.model_validate({**data, "source": source})
    except ValidationError as exc:
        issues += [_schema_issue(doc, error) for error in exc.errors() if _real(error, data)]
    issues += check_semantics(doc, registry)
    return (playbook if not issues else None), issues


def _real(error: ErrorDetails, data: dict[str, Any]) -> bool:
    """False for "too short" on a list whose items merely failed (those are reported)."""
    return not (error["type"] == "too_short" and data.get(str(error["loc"][0])))


def _schema_issue(doc: MarkedDocument, error: ErrorDetails) -> Issue:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return Issue(doc.key_mark(loc), _unknown_key(loc, doc))
    if kind == "missing":
        return Issue(doc.value_mark(loc[:-1]), f"{_owner(loc[:-1], doc)} is missing `{loc[-1]}`")
    if kind == "too_short" and loc == ("steps",):
        return Issue(doc.value_mark(loc), "a playbook needs at least one step under `steps`")
    if kind == "string_pattern_mismatch" and loc[-1:] in _PATTERN_HINTS:
        return Issue(doc.value_mark(loc), _PATTERN_HINTS[loc[-1:]].format(error["input"]))
    return Issue(doc.value_mark(loc), f"{_name(loc, doc)}{explain(error)}")


def _unknown_key(loc: Loc, doc: MarkedDocument) -> str:
    parent, key = loc[:-1], str(loc[-1])
    model: type[BaseModel] = Playbook
    where = "at the top level of the playbook"
    if parent[:1] in (("steps",), ("params",)):
        model = StepSpec if parent[0] == "steps" else ParamSpec
        where = f"in {_owner(parent, doc)}"
    candidates = [f.alias or n for n, f in model.model_fields.items() if n != "source"]
    return f"unknown key `{key}` {where}{suggest(key, candidates)}"


def _owner(loc: Loc, doc: MarkedDocument) -> str:
    """Who ``loc`` belongs to, in words: "the playbook", "step `targets`", "parameter `x`"."""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        try:
            step_id = doc.data["steps"][loc[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            step_id = None
        return f"step `{step_id}`" if isinstance(step_id, str) else f"step #{loc[1] + 1}"
    if len(loc) >= 2 and loc[0] == "params":
        return f"parameter `{loc[1]}`"
    return "the playbook"


def _name(loc: Loc, doc: MarkedDocument) -> str:
    """The thing at ``loc``, in words: "`timeout`", "`when` in step `x`", "step #2"."""
    if len(loc) <= 1:
        return f"`{loc[0]}`" if loc else "the playbook"
    owner = _owner(loc[:2], doc)
    if len(loc) == 2:
        return owner[:1].upper() + owner[1:] if loc[0] == "steps" else f"`{loc[0]}.{loc[1]}`"
    field = ".".join(str(part) for part in loc[2:] if not isinstance(part, int))
    return f"`{field}` {'in' if loc[0] == 'steps' else 'of'} {owner}"


__all__ = ["Mark", "Problem", "check_playbook", "load_playbook", "validate_text"]
