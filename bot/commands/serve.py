"""``triagebot serve``: the long-running bot."""

from __future__ import annotations

import argparse

from bot.config import Settings


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    print("serve arrives with the Slack app work (issue 3).")
    return 1
