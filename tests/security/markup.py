"""What the injection tests look for in everything that reached the Slack stand-in: a control
sequence (``<!…>``, ``<@…>``, ``<#…>``, ``<http…>``, ``<mailto:…>``) that the bot did not write.

The bot writes only these: a mention of the person who ran something, Slack's date token, the
CloudWatch console link (every outside character of the URL percent-encoded, the label the
bot's own) and the Health dashboard link. Everything else that starts like a control sequence
came from outside unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from bot.demo.slack_api import SlackCall

# Starts of Slack control sequences.
_CONTROL = re.compile(r"<(?:[!@#]|https?:|mailto:)", re.IGNORECASE)
# Text the bot wrote: each must match one of these whole.
_DATE = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>|]*>")
_CONSOLE = re.compile(
    r"<https://[a-z0-9-]+\.console\.aws\.amazon\.com/cloudwatch/home\?region=[a-z0-9-]+"
    r"#alarmsV2:alarm/[A-Za-z0-9%._~-]*\|Open in the AWS console>"
)
_HEALTH = (
    "<https://health.console.aws.amazon.com/health/home#/account/dashboard/open-issues"
    "|Open in the AWS console>"
)
# Written by the tests only in this pre-escaped form: seen as is, an ``&`` was not escaped.
PRE_ESCAPED = "&lt;!subteam^S999&gt;"
# Arguments Slack does not show: the file's bytes, the message metadata, ids, button values.
_NOT_SHOWN = frozenset(
    {"content", "metadata", "token", "channel", "ts", "thread_ts", "user"}
    | {"value", "action_id", "block_id", "callback_id", "private_metadata"}  # sent back, not shown
)

CONTROL_SEQUENCES = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123>",
    "<@U123>",
    "<@W0EVIL>",
    "<#C123>",
    "<#C123|incidents>",
    "<https://evil.example|Open in the AWS console>",
    "<http://evil.example>",
    "<mailto:boss@evil.example|mail>",
    "<!date^1392734382^{date}|x>",
    PRE_ESCAPED,
    "&lt;@U999&gt;",
    "&amp;lt;!here&amp;gt;",
    "&",
    "<",
    ">",
    "|",
    "<<!channel>>",
    "*",
    "`",
)


def bot_written(token: str, users: Sequence[str]) -> bool:
    if token in {f"<@{user}>" for user in users} or token == _HEALTH:
        return True
    return bool(_DATE.fullmatch(token) or _CONSOLE.fullmatch(token))


def strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string Slack would show in a call's arguments, at any depth, with its key."""
    if key in _NOT_SHOWN:
        return
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            yield from strings(item, str(name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item, key)


def problems_in(text: str, users: Sequence[str]) -> list[str]:
    """Control sequences in ``text`` that the bot did not write, and pre-escaped input that
    went through unescaped."""
    found = []
    for match in _CONTROL.finditer(text):
        end = text.find(">", match.start())
        token = text[match.start() : end + 1] if end != -1 else text[match.start() :]
        if end == -1 or not bot_written(token, users):
            found.append(token[:80])
    if PRE_ESCAPED in text:
        found.append(PRE_ESCAPED)
    return found


def problems(calls: Sequence[SlackCall], users: Sequence[str]) -> list[str]:
    """``method.key: token`` for every control sequence in ``calls`` the bot did not write."""
    return [
        f"{call.method}.{key}: {token!r} in {text[:200]!r}"
        for call in calls
        for key, text in strings(dict(call.args))
        for token in problems_in(text, users)
    ]
