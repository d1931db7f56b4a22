"""User-facing text for Slack, in one place."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.playbooks.schema import Playbook
from bot.store.base import RunRecord

GENERIC_FAILURE = (
    "Something went wrong on triagebot's side (reference `{ref}`). The details are in its log."
)
NO_DIGEST = (
    "No cost digest is configured. Add a `[digest]` section to triagebot's config to turn it on."
)
DRAINING = "triagebot is restarting; try again in a minute."
OUTPUT_GONE = "The full output of that run is no longer available. Press *Re-run* to run it again."

HELP = """*triagebot* runs incident playbooks against AWS and posts what it finds.
• `/triage` — pick a playbook in a dialog
• `/triage list` — the playbooks and their parameters
• `/triage <playbook> [key=value …]` — run one, e.g. `/triage alb-errors load_balancer=my-lb`
• `/triage alarm <alarm-name>` — run the playbook routed for that alarm, with its current state
• `/triage history [n]` — the last runs in this channel
• `/triage cost` — the cost digest now
• `/triage help` — this message"""


def run_not_here(run_id: str) -> str:
    """A button named a run that is gone, or that belongs to another channel."""
    shown = re.sub(r"[^0-9A-Za-z_-]", "", run_id)[:40]  # run ids are hex; a forged one is not
    return f"Run `{shown}` is not in this channel's history; run the playbook again."


def playbook_usage(playbook: Playbook) -> str:
    params = " ".join(
        f"{name}=<{spec.type}>"
        if spec.required and spec.default is None
        else f"[{name}=<{spec.type}>]"
        for name, spec in playbook.params.items()
    )
    return f"/triage {playbook.name}{' ' + params if params else ''}"


def playbook_list(playbooks: Iterable[Playbook]) -> str:
    lines = ["*Playbooks*"]
    for playbook in sorted(playbooks, key=lambda p: p.name):
        flags = " _(mutating — admins only)_" if playbook.mutating else ""
        about = playbook.description or playbook.display_title
        lines.append(f"• `{playbook.name}` — {about}{flags}\n    `{playbook_usage(playbook)}`")
    return "\n".join(lines)


def history(records: list[RunRecord], limit: int) -> str:
    if not records:
        return "No runs in this channel yet. Try `/triage list`."
    icons = {"ok": "✅", "warn": "⚠️", "error": "❌", "running": "🔄"}
    lines = [f"*Last {len(records)} run{'s' if len(records) != 1 else ''} in this channel*"]
    for record in records[:limit]:
        who = "an alarm" if record.user == "alarm" else f"<@{record.user}>"
        fallback = f"{record.started_at:%Y-%m-%d %H:%M} UTC"
        stamp = int(record.started_at.timestamp())
        when = f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>"
        params = " ".join(f"{k}={v}" for k, v in record.params.items())
        took = ""
        if record.finished_at is not None:
            took = f" in {(record.finished_at - record.started_at).total_seconds():.1f}s"
        icon = icons.get(record.outcome, "•")
        what = f"`{record.playbook}` {params}".rstrip()
        lines.append(f"{icon} {what} — {who}, {when}, {record.outcome}{took}")
    return "\n".join(lines)
