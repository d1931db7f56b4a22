"""One coroutine per CLI verb: ``(args, settings) -> exit code``."""

from __future__ import annotations

from bot.commands.check import check
from bot.commands.demo import demo
from bot.commands.digest import digest
from bot.commands.info import iam_policy, steps
from bot.commands.run import run
from bot.commands.serve import serve

__all__ = ["check", "demo", "digest", "iam_policy", "run", "serve", "steps"]
