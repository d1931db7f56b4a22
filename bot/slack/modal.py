"""The ``/triage`` modal: pick a playbook, give its parameters as ``key=value`` pairs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.playbooks.schema import Playbook
from bot.slack.messages import playbook_usage

CALLBACK_ID = "triage_modal"
PLAYBOOK_BLOCK, PLAYBOOK_ACTION = "playbook", "playbook_select"
PARAMS_BLOCK, PARAMS_ACTION = "params", "params_input"
MAX_OPTIONS = 100


def playbook_modal(playbooks: Iterable[Playbook], channel: str) -> dict[str, Any]:
    """The view for ``views.open``; ``private_metadata`` remembers the channel."""
    ordered = sorted(playbooks, key=lambda p: p.name)[:MAX_OPTIONS]
    options = [
        {
            "text": {"type": "plain_text", "text": f"{p.name} — {p.display_title}"[:75]},
            "value": p.name,
            "description": {"type": "plain_text", "text": playbook_usage(p)[:75]},
        }
        for p in ordered
    ]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": channel,
        "title": {"type": "plain_text", "text": "Run a playbook"},
        "submit": {"type": "plain_text", "text": "Run"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": PLAYBOOK_BLOCK,
                "label": {"type": "plain_text", "text": "Playbook"},
                "element": {
                    "type": "static_select",
                    "action_id": PLAYBOOK_ACTION,
                    "options": options,
                },
            },
            {
                "type": "input",
                "block_id": PARAMS_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Parameters"},
                "hint": {
                    "type": "plain_text",
                    "text": "key=value pairs, e.g. load_balancer=my-lb lookback=2h. "
                    "`/triage list` shows each playbook's parameters.",
                },
                "element": {
                    "type": "plain_text_input",
                    "action_id": PARAMS_ACTION,
                    "placeholder": {"type": "plain_text", "text": "key=value …"},
                },
            },
        ],
    }


@dataclass(frozen=True)
class ModalSubmission:
    channel: str
    playbook: str
    params_text: str


def read_submission(view: Mapping[str, Any]) -> ModalSubmission:
    values = view.get("state", {}).get("values", {})
    selected = values.get(PLAYBOOK_BLOCK, {}).get(PLAYBOOK_ACTION, {}).get("selected_option") or {}
    text = values.get(PARAMS_BLOCK, {}).get(PARAMS_ACTION, {}).get("value") or ""
    return ModalSubmission(
        channel=str(view.get("private_metadata", "")),
        playbook=str(selected.get("value", "")),
        params_text=str(text),
    )
