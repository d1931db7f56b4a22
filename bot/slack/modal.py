"""The ``/triage`` modal: pick a playbook, then fill in one input per parameter.

Pure: playbooks in, Block Kit views out; a submitted view in, the playbook and raw parameter
strings out. The first view holds only the playbook select (``dispatch_action``: choosing sends a
``block_actions`` payload); the answer to it is ``parameter_view``, the same modal with the
playbook's description and its parameters. ``private_metadata`` is JSON: the channel the modal was
opened from and, once chosen, the playbook whose parameters the view shows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.durations import format_duration
from bot.playbooks import templating
from bot.playbooks.params import TYPE_WORDS
from bot.playbooks.schema import ParamSpec, Playbook
from bot.render.limits import (
    MAX_HINT,
    MAX_LABEL,
    MAX_MODAL_BLOCKS,
    MAX_MODAL_ERROR,
    MAX_OPTION_TEXT,
    MAX_OPTION_VALUE,
    MAX_OPTIONS,
    MAX_PLACEHOLDER,
    MAX_SECTION_TEXT,
    truncate,
)
from bot.render.mrkdwn import escape, plain

CALLBACK_ID = "triage_modal"
PLAYBOOK_BLOCK, PLAYBOOK_ACTION = "playbook", "playbook_select"
ABOUT_BLOCK = "about"
PARAM_PREFIX = "param:"
TEXT_ACTION, CHOICE_ACTION, CHOICES_ACTION = "value_text", "value_choice", "value_choices"

MAX_PARAM_BLOCKS = MAX_MODAL_BLOCKS - 2  # the playbook select and the description come first

NO_PLAYBOOK = "Choose a playbook to run."
FROM_ALARM = "filled from the alarm when there is one"
WORKED_OUT = "worked out when left empty"
_SLASH_USAGE = re.compile(r": /triage \S+ \S+")
_BACKTICKED = re.compile(r"`([^`]+)`")


def still_loading(playbook: str) -> str:
    """The error when the view still shows another playbook's parameters."""
    return f"The parameters of `{playbook}` are still loading; check them, then press Run again."


def param_block_id(name: str) -> str:
    return f"{PARAM_PREFIX}{name}"


def playbook_modal(playbooks: Iterable[Playbook], channel: str) -> dict[str, Any]:
    """The view for ``views.open``: the playbook select alone."""
    return _modal(
        playbooks,
        channel,
        None,
        [
            {
                "type": "context",
                "block_id": ABOUT_BLOCK,
                "elements": [
                    {"type": "mrkdwn", "text": "Choose a playbook to see its parameters."}
                ],
            }
        ],
    )


def parameter_view(playbooks: Iterable[Playbook], channel: str, chosen: Playbook) -> dict[str, Any]:
    """The view for ``views.update`` once ``chosen`` is picked: its description and one input
    block per parameter (``block_id`` ``param:<name>``)."""
    specs = list(chosen.params.items())[:MAX_PARAM_BLOCKS]
    blocks = [_about(chosen), *(_param_block(name, spec) for name, spec in specs)]
    return _modal(playbooks, channel, chosen, blocks)


def _modal(
    playbooks: Iterable[Playbook],
    channel: str,
    chosen: Playbook | None,
    blocks: list[dict[str, Any]],
) -> dict[str, Any]:
    metadata = {"channel": channel, "playbook": chosen.name if chosen else ""}
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": json.dumps(metadata),
        "title": {"type": "plain_text", "text": "Run a playbook"},
        "submit": {"type": "plain_text", "text": "Run"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [_playbook_select(playbooks, chosen), *blocks][:MAX_MODAL_BLOCKS],
    }


def _playbook_select(playbooks: Iterable[Playbook], chosen: Playbook | None) -> dict[str, Any]:
    ordered = sorted(playbooks, key=lambda p: p.name)[:MAX_OPTIONS]
    if chosen is not None and chosen.name not in {p.name for p in ordered}:
        ordered = [chosen, *ordered[: MAX_OPTIONS - 1]]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": PLAYBOOK_ACTION,
        "placeholder": _plain("Choose a playbook", MAX_PLACEHOLDER),
        "options": [_playbook_option(p) for p in ordered],
    }
    if chosen is not None:
        element["initial_option"] = _playbook_option(chosen)
    return {
        "type": "input",
        "block_id": PLAYBOOK_BLOCK,
        "dispatch_action": True,
        "label": _plain("Playbook", MAX_LABEL),
        "element": element,
    }


def _playbook_option(playbook: Playbook) -> dict[str, Any]:
    return {
        "text": _plain(playbook.name, MAX_OPTION_TEXT),
        "value": playbook.name,  # names are short: [a-z0-9-], checked at load
        "description": _plain(playbook.display_title, MAX_OPTION_TEXT),
    }


def _about(playbook: Playbook) -> dict[str, Any]:
    lines = [f"*{escape(playbook.display_title)}*"]
    if playbook.description:
        lines.append(escape(playbook.description))
    if playbook.mutating:
        lines.append("_Changes AWS resources: admins only, and you will be asked to confirm._")
    if not playbook.params:
        lines.append("_It takes no parameters._")
    return {
        "type": "section",
        "block_id": ABOUT_BLOCK,
        "text": {"type": "mrkdwn", "text": truncate("\n".join(lines), MAX_SECTION_TEXT)},
    }


def _param_block(name: str, spec: ParamSpec) -> dict[str, Any]:
    literal = _literal_default(spec)
    block: dict[str, Any] = {
        "type": "input",
        "block_id": param_block_id(name),
        "optional": not (spec.required and spec.default is None),
        "label": _plain(name, MAX_LABEL),
        "element": _element(spec, literal),
        "hint": _plain(param_hint(spec), MAX_HINT),
    }
    return block


def param_hint(spec: ParamSpec) -> str:
    """What the input's hint says: the description, the type, where a default comes from."""
    kind = TYPE_WORDS[spec.type]
    if spec.choices:
        kind += ", one of " + ", ".join(spec.choices)
    if templating.is_template(spec.default):
        kind += f"; {FROM_ALARM if 'alarm' in str(spec.default) else WORKED_OUT}"
    description = spec.description.strip()
    if description and not description.endswith((".", "!", "?")):
        description += "."
    return f"{description} ({kind})" if description else f"({kind})"


def _element(spec: ParamSpec, literal: str | None) -> dict[str, Any]:
    words = _choice_words(spec)
    if words and spec.type == "list":
        element: dict[str, Any] = {
            "type": "multi_static_select",
            "action_id": CHOICES_ACTION,
            "options": [_option(w) for w in words],
        }
        defaults = [w.strip() for w in (literal or "").split(",") if w.strip() in words]
        if defaults:
            element["initial_options"] = [_option(w) for w in defaults]
        return element
    if words:
        element = {
            "type": "static_select",
            "action_id": CHOICE_ACTION,
            "options": [_option(w) for w in words],
        }
        if literal in words:
            element["initial_option"] = _option(literal)
        return element
    element = {"type": "plain_text_input", "action_id": TEXT_ACTION}
    if literal:
        element["placeholder"] = _plain(f"Default: {literal}", MAX_PLACEHOLDER)
    return element


def _choice_words(spec: ParamSpec) -> list[str]:
    """The options of a select, or [] when the parameter is typed in (too many or too long
    choices fall back to a text input; the hint lists them and the value is still checked)."""
    words = ["true", "false"] if spec.type == "bool" else list(spec.choices)
    if len(words) > MAX_OPTIONS or any(len(w) > MAX_OPTION_VALUE for w in words):
        return []
    return words


def _literal_default(spec: ParamSpec) -> str | None:
    """A default that is not a template, as a person would type it; None otherwise."""
    value = spec.default
    if value is None or templating.is_template(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _option(word: str) -> dict[str, Any]:
    return {"text": _plain(word, MAX_OPTION_TEXT), "value": word}


def _plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object: no markup to escape, only Slack's length for the field."""
    return {"type": "plain_text", "text": plain(text, limit)}


@dataclass(frozen=True)
class ModalSubmission:
    """What a submitted (or updated) modal holds."""

    channel: str
    playbook: str  # selected in the playbook block; "" when none is
    shown: str  # the playbook whose parameters the view shows; "" before one was chosen
    params: dict[str, str]  # non-empty values of the ``param:<name>`` blocks
    blocks: frozenset[str]  # the view's input block ids, where errors may go


def read_metadata(view: Mapping[str, Any]) -> tuple[str, str]:
    """The channel and the shown playbook from ``private_metadata``. A bare channel id (a modal
    opened before the metadata was JSON) reads as that channel."""
    raw = str(view.get("private_metadata") or "")
    try:
        data = json.loads(raw)
    except ValueError:
        return raw, ""
    if not isinstance(data, dict):
        return raw, ""
    return str(data.get("channel") or ""), str(data.get("playbook") or "")


def read_submission(view: Mapping[str, Any]) -> ModalSubmission:
    channel, shown = read_metadata(view)
    values: Mapping[str, Any] = (view.get("state") or {}).get("values") or {}
    selected = (values.get(PLAYBOOK_BLOCK) or {}).get(PLAYBOOK_ACTION) or {}
    option = selected.get("selected_option") or {}
    params: dict[str, str] = {}
    for block_id, actions in values.items():
        if not block_id.startswith(PARAM_PREFIX) or not isinstance(actions, Mapping):
            continue
        text = next((_value_of(a) for a in actions.values() if isinstance(a, Mapping)), "")
        if text.strip():
            params[block_id.removeprefix(PARAM_PREFIX)] = text
    blocks = frozenset(
        str(b.get("block_id")) for b in view.get("blocks") or [] if b.get("type") == "input"
    )
    return ModalSubmission(
        channel=channel,
        playbook=str(option.get("value") or ""),
        shown=shown,
        params=params,
        blocks=blocks,
    )


def _value_of(action: Mapping[str, Any]) -> str:
    """One input element's value as the text a person would type after ``key=``."""
    if action.get("selected_options") is not None:
        return ",".join(str(o.get("value", "")) for o in action["selected_options"])
    if action.get("selected_option") is not None:
        return str(action["selected_option"].get("value", ""))
    return str(action.get("value") or "")


def error_answer(block_id: str, message: str) -> dict[str, Any]:
    """The ``view_submission`` answer that shows ``message`` under ``block_id`` (Slack shows
    it as plain text: clipped, not escaped)."""
    text = _SLASH_USAGE.sub("", message).strip()
    return {"response_action": "errors", "errors": {block_id: plain(text, MAX_MODAL_ERROR)}}


def block_for_error(submission: ModalSubmission, playbook: Playbook, message: str) -> str:
    """The block a parameter error belongs under: the first parameter the message names in
    backticks, else the first parameter block, else the playbook block."""
    for word in _BACKTICKED.findall(message):
        if word in playbook.params and param_block_id(word) in submission.blocks:
            return param_block_id(word)
    for name in playbook.params:
        if param_block_id(name) in submission.blocks:
            return param_block_id(name)
    return PLAYBOOK_BLOCK
