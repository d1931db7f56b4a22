"""User-facing text for Slack, in one place.

Everything here is mrkdwn. What the bot did not write — stored run parameters, playbook
descriptions, an error's ``user_message`` (which repeats what a person typed) — is escaped
with ``bot.render.mrkdwn.escape``; the only markup is the bot's own (mentions of the people who
ran something, Slack's date token)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.errors import BotError, echo
from bot.playbooks.schema import Playbook
from bot.render.limits import MAX_MRKDWN, truncate
from bot.render.mrkdwn import date_token, escape, mention
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
• `/triage &lt;playbook&gt; [key=value …]` — run one, e.g. `/triage alb-errors load_balancer=my-lb`
• `/triage alarm &lt;alarm-name&gt;` — run the playbook routed for that alarm, as it is now
• `/triage timeline &lt;alarm-name&gt;` — its latest incident's timeline, a file in the thread
• `/triage history [n]` — the last runs in this channel
• `/triage cost` — the cost digest now
• `/triage handover [since=12h]` — the shift hand-over now: open incidents, the shift's, runs
• `/triage help` — this message"""


def run_not_here(run_id: str) -> str:
    """A button named a run that is gone, or that belongs to another channel."""
    return f"Run `{escape(echo(run_id))}` is not in this channel's history; run the playbook again."


def error_text(error: BotError | str) -> str:
    """An error (its plain ``user_message``) as a Slack reply: escaped, within Slack's limit."""
    message = error.user_message if isinstance(error, BotError) else error
    return truncate(escape(message), MAX_MRKDWN)


def no_such_alarm(name: str) -> str:
    return error_text(f"There is no CloudWatch alarm named `{echo(name)}` here.")


def no_incident(name: str) -> str:
    return error_text(f"triagebot has no incident of the alarm `{echo(name)}` in this channel.")


def alarm_lookup_failed(name: str, error: BotError) -> str:
    """AWS did not answer the alarm look-up (down, throttled, denied): what to do instead."""
    return error_text(
        f"Could not look up the alarm `{echo(name)}` in CloudWatch: {error.user_message} "
        "Try again in a minute, or run its playbook directly with "
        "`/triage <playbook> key=value …`."
    )


def playbook_usage(playbook: Playbook) -> str:
    """``/triage alb-errors [load_balancer=<string>]`` (plain text: escape it for mrkdwn)."""
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
        usage = escape(playbook_usage(playbook))
        lines.append(f"• `{playbook.name}` — {escape(about)}{flags}\n    `{usage}`")
    return "\n".join(lines)


def history(records: list[RunRecord], limit: int) -> str:
    if not records:
        return "No runs in this channel yet. Try `/triage list`."
    icons = {"ok": "✅", "warn": "⚠️", "error": "❌", "running": "🔄"}
    lines = [f"*Last {len(records)} run{'s' if len(records) != 1 else ''} in this channel*"]
    for record in records[:limit]:
        who = "an alarm" if record.user == "alarm" else mention(record.user)
        fallback = f"{record.started_at:%Y-%m-%d %H:%M} UTC"
        when = date_token(int(record.started_at.timestamp()), fallback)
        params = " ".join(f"{k}={v}" for k, v in record.params.items())
        took = ""
        if record.finished_at is not None:
            took = f" in {(record.finished_at - record.started_at).total_seconds():.1f}s"
        icon = icons.get(record.outcome, "•")
        what = f"`{escape(record.playbook)}` {escape(echo(params))}".rstrip()
        lines.append(f"{icon} {what} — {who}, {when}, {escape(record.outcome)}{took}")
    return "\n".join(lines)
