"""STS: who is the bot, in which account."""

from __future__ import annotations

from bot.results import StepOutput
from bot.steps.base import StepContext, StepParams, step


class CallerIdentityParams(StepParams):
    """No parameters."""


@step("sts.caller_identity", params=CallerIdentityParams, permissions=("sts:GetCallerIdentity",))
async def caller_identity(ctx: StepContext, params: CallerIdentityParams) -> StepOutput:
    """Which AWS principal and account the bot is acting as.

    Useful first in an access-denied investigation: the principal here is the one that
    needs the missing permission.

    Example:
        - id: whoami
          uses: sts.caller_identity
    """
    identity = await ctx.call("sts", "get_caller_identity")
    arn, account = identity["Arn"], identity["Account"]
    return StepOutput(
        summary=f"Acting as `{arn}` in account {account}.",
        data={"arn": arn, "account": account, "user_id": identity["UserId"]},
    )


STEPS = (caller_identity,)
