"""``triagebot digest``: the cost digest, printed or posted."""

from __future__ import annotations

import argparse

from bot.config import Settings


async def digest(args: argparse.Namespace, settings: Settings) -> int:
    print("The cost digest arrives with the digest work (issue 5).")
    return 0
