"""The regions the bot may look in for an account: its ``[[aws.accounts]] regions``.

An account's ``regions`` are where its workloads run; the bot calls AWS in that account only
there (an empty list: any region). ``bot.account_checks`` applies this to routes and steps at
``check`` time; ``AwsClients`` applies it to every call, for regions known only at run time.
"""

from __future__ import annotations

from bot.config import AwsAccount
from bot.regions import region_code


def outside_regions(account: AwsAccount, region: str) -> str | None:
    """Why ``region`` is off limits in ``account``, or None when the bot may look there."""
    code = region_code(region) or region
    if not account.regions or code in account.regions:
        return None
    allowed = ", ".join(account.regions)
    return (
        f"region `{code}` is outside the regions of account `{account.name}` ({allowed}); "
        "add it to that account's `regions` in [[aws.accounts]] to look there"
    )
