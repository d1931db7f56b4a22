"""``triagebot check [PATH…]``: validate the config and playbooks; never touches AWS or Slack.

It runs the loader ``serve`` and ``run`` start with (``bot.loading``), so what it accepts they
build and what it rejects they refuse, with the same lines. ``PATH…`` are playbook files or
directories checked along with the configured ones; one that does not exist is bad usage
(exit 2, like every other), a problem found is exit 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.config import Settings
from bot.errors import UsageError
from bot.loading import check_settings
from bot.steps import default_registry


async def check(args: argparse.Namespace, settings: Settings) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    _, problems = check_settings(settings, default_registry(), extra_paths=paths)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found.")
        return 1
    print("All playbooks and the config are valid.")
    return 0
