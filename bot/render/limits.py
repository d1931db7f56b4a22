"""Slack's Block Kit limits, in one place, and the helpers that keep text and blocks within them.

Numbers are from Slack's Block Kit reference: a message holds at most 50 blocks; a section's
text at most 3,000 characters; a header's plain text 150; a context block at most 10 elements of
at most 2,000 characters each; a button's text 75 and its value 2,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENT_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_MRKDWN = 3000  # any other mrkdwn text we send, the notification text included
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000

# Modals (views.open / views.update) and their elements.
MAX_MODAL_BLOCKS = 100
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_LABEL = 2000
MAX_HINT = 2000
MAX_PLACEHOLDER = 150
MAX_MODAL_ERROR = 150  # a response_action "errors" message

ELLIPSIS = "…"


def truncate(text: str, limit: int, more_hint: str = "") -> str:
    """``text`` cut to at most ``limit`` characters, at a line boundary when one fits.

    What was cut is counted in a last line: ``… 12 more lines`` (or ``… 340 more chars`` when
    not even the first line fits), followed by ``more_hint`` (e.g. where the rest is).
    """
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        note = _note(len(lines) - index, "lines", more_hint)
        cost = len(line) + (1 if kept else 0)
        if used + cost + 1 + len(note) > limit:
            break
        kept.append(line)
        used += cost
    if kept and used >= limit // 2:
        return "\n".join(kept) + "\n" + _note(len(lines) - len(kept), "lines", more_hint)
    return _cut_chars(text, limit, more_hint)  # a few long lines: cut inside one instead


def clip(text: str, limit: int) -> str:
    """One line cut to ``limit`` characters with a trailing ``…`` (headers, cells, buttons)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS if limit > 0 else ""


def fit_blocks(blocks: Sequence[dict[str, Any]], limit: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """At most ``limit`` blocks: the first ``limit - 1`` and a context block counting the rest."""
    if len(blocks) <= limit:
        return list(blocks)
    kept = list(blocks[: limit - 1])
    hidden = len(blocks) - len(kept)
    kept.append(context_block([overflow_note(hidden)]))
    return kept


def overflow_note(hidden: int) -> str:
    noun = "section" if hidden == 1 else "sections"
    return f"{ELLIPSIS} {hidden} more {noun} — full output in the attached file"


def context_block(texts: Sequence[str]) -> dict[str, Any]:
    """A context block of mrkdwn elements, held to the element count and length limits."""
    elements = [
        {"type": "mrkdwn", "text": truncate(text, MAX_CONTEXT_ELEMENT_TEXT)}
        for text in texts[:MAX_CONTEXT_ELEMENTS]
        if text
    ]
    return {"type": "context", "elements": elements}


def _note(count: int, unit: str, more_hint: str) -> str:
    if count == 1:
        unit = unit[:-1]
    note = f"{ELLIPSIS} {count} more {unit}"
    return f"{note} {more_hint}" if more_hint else note


def _cut_chars(text: str, limit: int, more_hint: str) -> str:
    """Cut mid-line; the note's length depends on how much is cut, so shrink until both fit."""
    keep = limit
    note = _note(len(text) - keep, "chars", more_hint)
    while keep > 0 and keep + 1 + len(note) > limit:
        keep = max(min(keep - 1, limit - len(note) - 1), 0)
        note = _note(len(text) - keep, "chars", more_hint)
    if keep == 0:
        return clip(note, limit)
    return text[:keep].rstrip(" ") + "\n" + note
