"""The catalog: every loaded playbook by name, what ``/triage <name>`` and routes look up.

Loading is all or nothing: one broken playbook stops ``serve`` at start-up with every problem in
every file, rather than failing mid-incident.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.errors import PlaybookInvalid, UnknownPlaybook
from bot.playbooks.loader import Problem, check_playbook
from bot.playbooks.marked_yaml import Mark, parse_marked
from bot.playbooks.schema import Playbook
from bot.steps.registry import Registry

PLAYBOOK_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Catalog:
    """Validated playbooks by name."""

    playbooks: Mapping[str, Playbook]

    def get(self, name: str) -> Playbook:
        """The playbook called ``name``; UnknownPlaybook (with a suggestion) otherwise."""
        try:
            return self.playbooks[name]
        except KeyError:
            raise UnknownPlaybook(name, self.playbooks) from None

    def names(self) -> list[str]:
        return sorted(self.playbooks)

    def __iter__(self) -> Iterator[Playbook]:
        return (self.playbooks[name] for name in self.names())

    def __len__(self) -> int:
        return len(self.playbooks)

    def __contains__(self, name: object) -> bool:
        return name in self.playbooks


def load_catalog(dirs: Iterable[Path], registry: Registry) -> Catalog:
    """Every ``*.yaml`` / ``*.yml`` in ``dirs``. Raises PlaybookInvalid with all the problems of
    all the files (including two files that use the same playbook name)."""
    playbooks, problems = _check(list(dirs), registry)
    if problems:
        raise PlaybookInvalid([str(problem) for problem in problems])
    return Catalog({playbook.name: playbook for playbook in playbooks})


def check_catalog(paths: Iterable[Path], registry: Registry) -> tuple[Catalog, list[Problem]]:
    """The playbooks in ``paths`` that are valid, as a catalog, and every problem of the others:
    what ``bot.loading`` builds on, so ``check`` reads each file once."""
    playbooks, problems = _check(list(paths), registry)
    return Catalog({playbook.name: playbook for playbook in playbooks}), problems


def check_paths(paths: Iterable[Path], registry: Registry) -> list[Problem]:
    """What ``triagebot check [PATH…]`` reports: every problem in these files and directories."""
    return _check(list(paths), registry)[1]


def playbook_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """The playbook files named by ``paths`` (a directory means its ``*.yaml``/``*.yml``, sorted);
    a path that does not exist is a problem."""
    files: dict[Path, Path] = {}  # by resolved path: a file named twice is checked once
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in PLAYBOOK_SUFFIXES)
        elif path.is_file():
            found = [path]
        else:
            problems.append(Problem(str(path), 1, 1, "no such file or directory"))
            continue
        for file in found:
            files.setdefault(file.resolve(), file)
    return list(files.values()), problems


def _check(paths: list[Path], registry: Registry) -> tuple[list[Playbook], list[Problem]]:
    files, problems = playbook_files(paths)
    playbooks: list[Playbook] = []
    first: dict[str, Playbook] = {}
    for path in files:
        playbook, found = check_playbook(path, registry)
        problems += found
        if playbook is None:
            continue
        if playbook.name in first:
            mark = _name_mark(path)
            other = first[playbook.name].source
            message = f"playbook name `{playbook.name}` is already used by {other}"
            problems.append(Problem(str(path), mark.line, mark.col, message))
            continue
        first[playbook.name] = playbook
        playbooks.append(playbook)
    return playbooks, problems


def _name_mark(path: Path) -> Mark:
    """Where ``name:`` is in a playbook file that has already loaded once."""
    doc, _ = parse_marked(path.read_text(encoding="utf-8"))
    return doc.value_mark(("name",)) if doc else Mark(1, 1)
