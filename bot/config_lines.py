"""Where a key path of the config sits in the TOML text: the line and column a problem points at.

``tomllib`` keeps no positions, so this reads the text line by line, tracking the table each
line is in (``[aws]``, the n-th ``[[routes]]``) and the keys it sets (``port = 3000``,
``match.region = "…"``). A path that is not written in the file (a missing key, an element of an
inline array) points at the closest line that is: its table, or the key holding the array.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_HEADER = re.compile(r"^(\s*)(\[\[?)\s*([\w.\-\" ]+?)\s*\]\]?")
_KEY = re.compile(r"^(\s*)([\w.\-\" ]+?)\s*=")


@dataclass(frozen=True)
class Position:
    line: int
    col: int


def locate(text: str, loc: Sequence[str | int]) -> Position | None:
    """The position of the key path ``loc`` (``("routes", 1, "playbook")``) in TOML ``text``:
    exact where the key is written, else the longest written prefix; None if nothing matches."""
    wanted = tuple(str(part) for part in loc)
    if not wanted:
        return None
    best: tuple[int, Position] | None = None
    for path, position in _written_paths(text):
        common = _common_prefix(path, wanted)
        if common == len(wanted) and len(path) == len(wanted):
            return position
        if common == len(path) and (best is None or common > best[0]):
            best = (common, position)
    return best[1] if best else None


def _written_paths(text: str) -> list[tuple[tuple[str, ...], Position]]:
    """Every table header and key line, with the full key path it writes."""
    found: list[tuple[tuple[str, ...], Position]] = []
    counts: dict[tuple[str, ...], int] = {}  # arrays of tables: how many elements so far
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            indent, brackets, dotted = header.groups()
            table = _resolve(_split(dotted), counts, new_element=brackets == "[[")
            found.append((table, Position(number, len(indent) + 1)))
            continue
        key = _KEY.match(line)
        if key:
            indent, dotted = key.groups()
            found.append(((*table, *_split(dotted)), Position(number, len(indent) + 1)))
    return found


def _resolve(
    names: list[str], counts: dict[tuple[str, ...], int], *, new_element: bool
) -> tuple[str, ...]:
    """A header's names as a full path: each array of tables stands for its latest element."""
    path: tuple[str, ...] = ()
    for position, name in enumerate(names):
        path = (*path, name)
        last = position == len(names) - 1
        if last and new_element:
            counts[path] = counts.get(path, 0) + 1
        if path in counts:
            path = (*path, str(counts[path] - 1))
    return path


def _split(dotted: str) -> list[str]:
    return [part.strip().strip('"') for part in dotted.split(".")]


def _common_prefix(path: tuple[str, ...], wanted: tuple[str, ...]) -> int:
    count = 0
    for mine, theirs in zip(path, wanted, strict=False):
        if mine != theirs:
            break
        count += 1
    return count
