"""The one escaping rule: text that did not come from the bot's own code is data, never markup.

Slack reads ``<…>`` in mrkdwn (and in a message's ``text``) as a control sequence: ``<!channel>``
and ``<!here>`` ping everyone, ``<@U…>``, ``<#C…>`` and ``<!subteam^S…>`` mention, and
``<https://…|label>`` shows ``label`` as a link to anywhere. An alarm's name or state reason, a
log line, a Health description, an SNS message or a ``/triage`` parameter can hold any of them;
so every such piece goes through ``escape`` on its way into mrkdwn, and the bot's own markup is
built only here: ``link`` (a URL the bot built, a label escaped), ``mention`` (a user id Slack
gave us), ``date_token`` (Slack's localized time). ``plain`` keeps outside text in a
``plain_text`` field (no markup there, only a length); ``file_title`` and ``file_name`` do the
same for uploads. Echoed input is clipped first (``bot.errors.echo``).
"""

from __future__ import annotations

import re

from bot.render.limits import clip

MAX_LINK_LABEL = 200
MAX_FILE_TITLE = 250
MAX_FILE_NAME = 120

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# Characters a URL inside ``<url|label>`` may not hold as they are: the three Slack escapes,
# the label separator, and whitespace (each is percent-encoded instead).
_URL_UNSAFE = re.compile(r"[<>|\s\"'`]")
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def escape(text: str) -> str:
    """Slack's three control characters, escaped as Slack asks (``&``, ``<``, ``>``): the text
    then reads exactly as it came, and nothing in it pings, mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """``<url|label>`` for a URL the bot built (a console page, a configured template) and a
    label that is escaped. Only ``https://`` URLs become links; anything else is the label."""
    text = escape(clip(label, MAX_LINK_LABEL))
    if not url.startswith("https://"):
        return text
    safe = _URL_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), url)
    return f"<{safe.replace('&', '&amp;')}|{text}>"


def mention(user_id: str) -> str:
    """``<@U…>`` for an id Slack gave us (a user who pressed a button or ran a command); any
    other string is shown as the text it is."""
    if _USER_ID.match(user_id):
        return f"<@{user_id}>"
    return escape(user_id)


def is_user_id(text: str) -> bool:
    return bool(_USER_ID.match(text))


def date_token(epoch_seconds: int, fallback: str) -> str:
    """Slack's ``<!date^…>``: the time in the reader's own zone, ``fallback`` where it cannot."""
    return f"<!date^{int(epoch_seconds)}^{{date_short_pretty}} {{time}}|{escape(fallback)}>"


def plain(text: str, limit: int) -> str:
    """Outside text for a ``plain_text`` field: Slack shows it as it is (no markup to escape),
    on one line, cut to ``limit`` with ``…``."""
    return clip(text, limit)


def file_title(text: str) -> str:
    """An upload's title, which Slack shows beside the file: one line, escaped, clipped."""
    return escape(clip(text, MAX_FILE_TITLE))


def file_name(text: str, suffix: str) -> str:
    """An upload's file name from outside text: letters, digits, ``.``, ``_`` and ``-`` only
    (others become ``-``), clipped, then ``suffix`` (``.txt``)."""
    stem = _FILE_UNSAFE.sub("-", text).strip("-.")[:MAX_FILE_NAME]
    return f"{stem or 'file'}{suffix}"


# Inline markup in CommonMark and GFM (the lines it sits in begin with the bot's own text, so
# the line-start markers ``#``, ``-``, ``1.`` cannot take effect): emphasis, code, links,
# autolinks and HTML, entities, table cells, strike-through.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~])")


def markdown(text: str) -> str:
    """Outside text for a Markdown file (the exported timeline): on one line, every character
    Markdown or HTML could read as markup backslash-escaped, so it reads exactly as it came."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))
