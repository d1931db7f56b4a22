"""``triagebot check [PATH…]``: validate the config and playbooks; never touches AWS or Slack."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.config import Settings
from bot.errors import PlaybookInvalid, did_you_mean
from bot.playbooks.catalog import check_paths, load_catalog
from bot.steps import default_registry


async def check(args: argparse.Namespace, settings: Settings) -> int:
    registry = default_registry()
    paths = [Path(p) for p in args.paths] or settings.playbook_dirs()
    missing = [p for p in paths if not p.exists()]
    problems = [f"{p}: no such file or directory" for p in missing]
    problems += [
        str(problem) for problem in check_paths([p for p in paths if p.exists()], registry)
    ]
    problems += _route_problems(settings)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found.")
        return 1
    print("All playbooks and the config are valid.")
    return 0


def _route_problems(settings: Settings) -> list[str]:
    """Routes and the digest must name playbooks that exist."""
    try:
        catalog = load_catalog(settings.playbook_dirs(), default_registry())
    except PlaybookInvalid:
        return []  # reported file by file above
    where = settings.source or "config"
    problems = []
    for index, route in enumerate(settings.routes, start=1):
        if route.playbook not in catalog.names():
            hint = did_you_mean(route.playbook, catalog.names())
            name = route.playbook
            problems.append(
                f"{where}: route {index} names playbook `{name}`, which does not exist.{hint}"
            )
    return problems
