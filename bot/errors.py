"""One error tree. Each error carries a ``user_message`` written for a person to read.

A ``user_message`` is plain text (the CLI prints it as it is): backticks for names, never Slack
markup. Whatever a person typed is repeated in it through ``echo`` (one line, clipped), and
Slack replies escape the whole message (``bot.render.mrkdwn.escape``), so echoed input can
neither ping nor link.

Anything that is not a ``BotError`` is a bug: it is logged with its run id and answered with a
short generic message, never a stack trace.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import timedelta

ECHO_CHARS = 100  # of a person's input repeated in an error message (then escaped for Slack)
ELLIPSIS = "…"


def echo(text: object, limit: int = ECHO_CHARS) -> str:
    """Input repeated in an error message: on one line, at most ``limit`` characters, cut with
    ``…`` (a 40 KB ``/triage`` text is not sent back whole)."""
    line = " ".join(str(text).split())
    if len(line) <= limit:
        return line
    return line[: max(limit - 1, 0)].rstrip() + ELLIPSIS


class BotError(Exception):
    """Base of every error the bot expects and can explain."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class ConfigError(BotError):
    """The TOML config or the environment is wrong."""


class UsageError(BotError):
    """A command was called the wrong way (CLI exit code 2)."""


class PlaybookInvalid(BotError):
    """A playbook failed validation; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UnknownPlaybook(BotError):
    """Nobody wrote a playbook by that name."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        hint = did_you_mean(name, known)
        listing = ", ".join(f"`{k}`" for k in known) or "none"
        super().__init__(f"There is no playbook `{echo(name)}`.{hint} Playbooks: {listing}.")
        self.name = name
        self.known = known


class ParamError(BotError):
    """A playbook parameter is missing, unknown or of the wrong type."""


class AccessRefused(BotError):
    """The caller may not do this here."""


class StepError(BotError):
    """A step could not produce its result (AWS said no, bad input, ...).

    When AWS answered with an error, ``aws_code`` and ``aws_message`` hold what it said
    (``AccessDeniedException``, ...) so callers can tell cases apart without botocore."""

    def __init__(self, user_message: str, *, aws_code: str = "", aws_message: str = "") -> None:
        super().__init__(user_message)
        self.aws_code = aws_code
        self.aws_message = aws_message


NO_CREDENTIALS = "No AWS credentials: there were none to sign the request with."
"""What a step says when botocore found no credentials (``triagebot run`` then says how to
provide them, once: ``CREDENTIALS_HINT``)."""

CREDENTIALS_HINT = (
    "Give the bot AWS credentials in one of the ways boto3 looks for them: a profile "
    "(`aws configure`, or `aws configure sso`, then `AWS_PROFILE=name`), the variables "
    "`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), or an "
    "instance, task or pod role where it runs in AWS."
)


class SignatureInvalid(BotError):
    """A request's signature did not verify."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return ' Did you mean `x`?' for the closest candidate, or ''."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""


class RetryLater(Exception):
    """Not done yet and not a failure: call again in ``after`` (an alarm whose root message
    another replica is posting, or that Slack did not take). The alarm inbox honours it."""

    def __init__(self, reason: str, after: timedelta) -> None:
        super().__init__(reason)
        self.after = after


class SlackUnavailable(RetryLater):
    """Slack did not answer something that cannot wait in the outbox (an alarm storm's message,
    whose ts the storm's record needs): the inbox calls again, backing off from ``after``, for
    as long as the message is relevant, however many attempts that takes."""
