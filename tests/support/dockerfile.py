"""The Dockerfile read as data, so tests rehearse what the image does from the file itself:
its instructions per stage, the HEALTHCHECK command, the build context after .dockerignore.

Only what our Dockerfile uses is understood: line continuations, comments, parser directives,
JSON (exec) and shell forms, ``KEY=value`` ENV pairs.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    text: str  # everything after the keyword, continuations joined
    stage: int  # 0 for the first FROM's stage, 1 for the next, ...
    line: int

    def flags(self) -> dict[str, str]:
        """``--name=value`` options in front of the arguments (``HEALTHCHECK --interval=30s``)."""
        return dict(re.findall(r"--([\w-]+)=(\S+)", self._flags_text()))

    def argv(self) -> list[str]:
        """The arguments: the JSON array of the exec form, else shell words."""
        rest = self.text[len(self._flags_text()) :].strip()
        if self.keyword == "HEALTHCHECK":
            rest = rest.removeprefix("CMD").strip()
        if rest.startswith("["):
            words = json.loads(rest)
            assert isinstance(words, list)
            return [str(word) for word in words]
        return shlex.split(rest)

    def _flags_text(self) -> str:
        match = re.match(r"(\s*--[\w-]+=\S+)*", self.text)
        return match.group(0) if match else ""


class Dockerfile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.instructions = _parse(path.read_text())

    def stages(self) -> int:
        return sum(1 for i in self.instructions if i.keyword == "FROM")

    def final_stage(self) -> list[Instruction]:
        last = self.stages() - 1
        return [i for i in self.instructions if i.stage == last]

    def all(self, keyword: str, stage: int | None = None) -> list[Instruction]:
        return [
            i
            for i in self.instructions
            if i.keyword == keyword and (stage is None or i.stage == stage)
        ]

    def one(self, keyword: str, stage: int) -> Instruction:
        found = self.all(keyword, stage)
        assert len(found) == 1, f"expected one {keyword} in stage {stage}, found {len(found)}"
        return found[0]

    def env(self, stage: int) -> dict[str, str]:
        """The stage's ENV values (``KEY=value`` pairs; ``$PATH``-style references left as is)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV", stage):
            for word in shlex.split(instruction.text):
                key, _, value = word.partition("=")
                values[key] = value
        return values

    def healthcheck(self) -> list[str]:
        """The final stage's HEALTHCHECK command, as an argv."""
        return self.one("HEALTHCHECK", self.stages() - 1).argv()

    def copied_sources(self, stage: int) -> list[str]:
        """What the stage's COPY instructions take from the build context (not ``--from=``)."""
        sources: list[str] = []
        for instruction in self.all("COPY", stage):
            if "from" not in instruction.flags():
                sources += instruction.argv()[:-1]
        return sources


def _parse(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue  # comments and parser directives
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = pending + line
        pending = ""
        keyword, _, rest = whole.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, rest.strip(), stage, start))
    return instructions


def build_context(root: Path, sources: list[str], into: Path) -> Path:
    """Copy ``sources`` (paths relative to ``root``) into ``into`` the way ``docker build`` sends
    them: without what ``root/.dockerignore`` excludes. A missing source fails, as it would there.
    """
    patterns = _dockerignore(root / ".dockerignore")

    def excluded(path: Path) -> bool:
        relative = path.relative_to(root).as_posix()
        return any(_matches(relative, pattern) for pattern in patterns)

    for source in sources:
        origin = root / source.rstrip("/")
        if not origin.exists():
            raise FileNotFoundError(f"COPY {source}: not in the build context {root}")
        if excluded(origin):
            raise FileNotFoundError(f"COPY {source}: excluded by .dockerignore")
        target = into / source.rstrip("/")
        if origin.is_dir():
            shutil.copytree(
                origin,
                target,
                ignore=lambda folder, names: [
                    name for name in names if excluded(Path(folder) / name)
                ],
            )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
    return into


def _dockerignore(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line.lstrip("/") for line in lines if line and not line.startswith("#")]


def _matches(relative: str, pattern: str) -> bool:
    """Docker's rule: the pattern is anchored at the context root; ``**/`` matches any depth;
    a match on a folder excludes everything under it."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(
            fnmatch.fnmatchcase("/".join(parts[i : j + 1]), tail)
            for i in range(len(parts))
            for j in range(i, len(parts))
        )
    return any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
