"""``triagebot check [PATH…]``: validate the config and playbooks; never touches AWS or Slack.

It runs the loader ``serve`` and ``run`` start with (``bot.loading``), so what it accepts they
build and what it rejects they refuse, with the same lines. ``PATH…`` are playbook files or
directories checked along with the configured ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.config import Settings
from bot.loading import check_settings
from bot.steps import default_registry


async def check(args: argparse.Namespace, settings: Settings) -> int:
    paths = [Path(p) for p in args.paths]
    _, problems = check_settings(settings, default_registry(), extra_paths=paths)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found.")
        return 1
    print("All playbooks and the config are valid.")
    return 0
