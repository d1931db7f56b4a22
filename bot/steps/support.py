"""Helpers the AWS step modules share: alarm-aware defaults and reading AWS error codes."""

from __future__ import annotations

from bot.errors import StepError
from bot.steps.base import StepContext


def alarm_dimension(ctx: StepContext, name: str) -> str | None:
    """The value of dimension ``name`` on the alarm that started the run, if any."""
    if ctx.alarm is None:
        return None
    return ctx.alarm.dimensions.get(name) or None


def required(value: str | None, ctx: StepContext, dimension: str, what: str, param: str) -> str:
    """``value``, else the alarm's ``dimension``; a StepError saying how to give it otherwise."""
    found = value or alarm_dimension(ctx, dimension)
    if not found:
        raise StepError(
            f"No {what} given: set `{param}`, or run this from an alarm "
            f"with a `{dimension}` dimension."
        )
    return found
