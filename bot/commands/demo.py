"""``triagebot demo``: everything local — moto server, a Slack stand-in, the real bot."""

from __future__ import annotations

import argparse

from bot.config import Settings


async def demo(args: argparse.Namespace, settings: Settings) -> int:
    print("demo arrives with the demo work.")
    return 0
