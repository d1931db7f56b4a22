"""Link buttons: a runbook or a dashboard a playbook or route points at, as Block Kit ``url``
buttons. Their URLs come from templates a person wrote (``{{ alarm.name }}`` filled in with
outside text), so each is checked again as it is drawn (``bot.playbooks.links.safe_url``), and
goes into a button's ``url`` field, never into mrkdwn: nothing in it can become markup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.playbooks.links import safe_url
from bot.render.limits import MAX_BUTTON_TEXT, clip

LINK_ACTION_PREFIX = "link_"
"""Slack reports a press of a URL button too; its action ids start with this (acked, no more)."""


@dataclass(frozen=True)
class LinkButton:
    """A labelled link (``Runbook`` → a URL); ``name`` ends its action id (``link_runbook``)."""

    name: str
    label: str
    url: str


def link_elements(links: Sequence[LinkButton]) -> list[dict[str, Any]]:
    """The buttons for ``links`` whose URLs are safe (an unsafe one is left out)."""
    elements = []
    for link in links:
        url = safe_url(link.url)
        if url is None:
            continue
        elements.append(
            {
                "type": "button",
                "action_id": f"{LINK_ACTION_PREFIX}{link.name}",
                "text": {"type": "plain_text", "text": clip(link.label, MAX_BUTTON_TEXT)},
                "url": url,
            }
        )
    return elements
