"""The link templates a playbook or a ``[[routes]]`` entry may name (``runbook_url``,
``dashboard_url``): checked when the config and playbooks load, rendered with the alarm when an
incident's root or run message is drawn. They read only ``alarm`` (``{{ alarm.name }}``,
``{{ alarm.dimensions.LoadBalancer }}``). ``safe_url`` is the one check of a URL for a button,
at load time (a URL without a template) and again once rendered: ``http://`` or ``https://``
with a host, no whitespace or control characters, within Slack's length."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bot.playbooks import templating
from bot.playbooks.marked_yaml import Mark
from bot.playbooks.template_checks import Scope, check_template

LINK_LABELS = {"runbook_url": "Runbook", "dashboard_url": "Dashboard"}
"""The link keys, in the order their buttons appear, and each button's label."""

MAX_URL = 3000  # a Block Kit button's url
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")
_SCOPE = Scope(reader="a link", params=(), all_params=(), steps=None, all_steps=())


def safe_url(url: str) -> str | None:
    """``url`` when it may be a button's link, else None."""
    if not url or len(url) > MAX_URL or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed port or IPv6 host
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    return url


def link_problems(source: str) -> list[str]:
    """What is wrong with one link template, for a person ([] when nothing is)."""
    if not source:
        return []
    if not templating.is_template(source):
        if safe_url(source) is None:
            return [f"`{source[:100]}` is not an http:// or https:// URL"]
        return []
    issues = check_template(source, Mark(0, 0), _SCOPE)
    return [issue.message for issue in issues]


def render_link(source: str, alarm: Mapping[str, Any]) -> str:
    """The template filled in with the alarm (``alarm.template_context()``); raises
    ``TemplateFailure`` when it cannot be."""
    return str(templating.render_string(source, {"alarm": alarm}))
