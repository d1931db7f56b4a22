"""YAML that remembers where everything was: plain data plus the line and column of every key
and value, so a playbook problem can point at the exact spot in the file.

PyYAML's composer gives nodes with marks; we build the data from those nodes ourselves, which
also lets us refuse duplicate keys (YAML keeps the last one silently; nobody means that).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Loc = tuple[str | int, ...]
"""Where a value sits in the document: ``("steps", 0, "with", "lookback")``."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_NODES = 100_000  # alias bombs ("billion laughs") stop here


@dataclass(frozen=True, order=True)
class Mark:
    """A position in the file, 1-based like an editor shows it."""

    line: int
    col: int


@dataclass(frozen=True)
class Issue:
    """One problem at one position (the loader adds the file name)."""

    mark: Mark
    message: str


@dataclass(frozen=True)
class Located:
    """Where one entry's key and its value start (for list items, both are the item)."""

    key: Mark
    value: Mark


@dataclass(frozen=True)
class MarkedDocument:
    """The document's data and the position of every entry in it."""

    data: Any
    marks: Mapping[Loc, Located] = field(default_factory=dict)

    def value_mark(self, loc: Loc) -> Mark:
        """Where the value at ``loc`` starts (or its nearest recorded parent)."""
        return self._nearest(loc).value

    def key_mark(self, loc: Loc) -> Mark:
        """Where the key of the entry at ``loc`` starts (or its nearest recorded parent)."""
        return self._nearest(loc).key

    def _nearest(self, loc: Loc) -> Located:
        for end in range(len(loc), -1, -1):
            found = self.marks.get(loc[:end])
            if found is not None:
                return found
        return Located(Mark(1, 1), Mark(1, 1))


def parse_marked(text: str) -> tuple[MarkedDocument | None, list[Issue]]:
    """Parse one YAML document. Syntax errors give no document; duplicate keys and other
    construction problems give the document (first occurrence kept) plus issues."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            return None, [_syntax_issue(exc)]
        if root is None:
            empty = "the file is empty; a playbook needs `name` and `steps`"
            return None, [Issue(Mark(1, 1), empty)]
        builder = _Builder(loader)
        try:
            data = builder.build(root, (), None)
        except _TooLarge:
            return None, [Issue(_mark(root), "the document expands to too many values (aliases?)")]
        return MarkedDocument(data, builder.marks), builder.issues
    finally:
        loader.dispose()


class _TooLarge(Exception):
    pass


class _Builder:
    """Turns composed nodes into data, recording marks and refusing duplicate keys."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.marks: dict[Loc, Located] = {}
        self.issues: list[Issue] = []
        self._count = 0
        self._open: set[int] = set()  # nodes being built: an alias back to one is a loop

    def build(self, node: Node, loc: Loc, key_mark: Mark | None) -> Any:
        self._count += 1
        if self._count > _MAX_NODES:
            raise _TooLarge
        value_mark = _mark(node)
        self.marks[loc] = Located(key_mark or value_mark, value_mark)
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if id(node) in self._open:
            self.issues.append(Issue(value_mark, "an alias refers to itself"))
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*loc, i), None) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self._mapping(node, loc)
            return None
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: ScalarNode) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            self.issues.append(Issue(_mark(node), f"unsupported YAML tag `{node.tag}`"))
            return None

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        explicit = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        for key_node, value_node in node.value:  # `<<: *defaults` first, explicit keys win
            if key_node.tag == _MERGE_TAG:
                result.update(self._merged(value_node, loc))
        seen: dict[Any, Mark] = {}
        for key_node, value_node in explicit:
            key_mark = _mark(key_node)
            if not isinstance(key_node, ScalarNode):
                self.issues.append(Issue(key_mark, "a key must be a plain word, not a list or map"))
                continue
            key = key_node.value  # keys are text: YAML 1.1 would read `on:` or `no:` as booleans
            if key in seen:
                self.issues.append(
                    Issue(key_mark, f"duplicate key `{key}` (first given on line {seen[key].line})")
                )
                continue
            seen[key] = key_mark
            result[key] = self.build(value_node, (*loc, key), key_mark)
        return result

    def _merged(self, node: Node, loc: Loc) -> dict[Any, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in reversed(sources):  # earlier entries in `<<: [*a, *b]` win
            if not isinstance(source, MappingNode) or id(source) in self._open:
                self.issues.append(Issue(_mark(source), "`<<` must merge a map"))
                continue
            self._open.add(id(source))
            try:
                merged.update(self._mapping(source, loc))
            finally:
                self._open.discard(id(source))
        return merged


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _syntax_issue(exc: yaml.MarkedYAMLError) -> Issue:
    where = exc.problem_mark or exc.context_mark
    mark = Mark(where.line + 1, where.column + 1) if where else Mark(1, 1)
    problem = exc.problem or "cannot parse"
    context = ""
    if exc.context and exc.context_mark:
        context = f" ({exc.context} on line {exc.context_mark.line + 1})"
    elif exc.context:
        context = f" ({exc.context})"
    return Issue(mark, f"invalid YAML: {problem}{context}")
