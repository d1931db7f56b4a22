"""The local Slack Web API stand-in (it lives in ``bot.fakes`` so ``triagebot demo`` can use it)."""

from bot.fakes.slack_api import *  # noqa: F403
