"""Resolution notes: once an incident is resolved its root offers *Add note*, a modal with one
text field; the note is kept with the incident (``Incident.note``, ``note_by``), shown on the
root, said in the thread, and shown by the history reply the next time the alarm fires
(``bot/incidents/history_text.py``).

The modal names the incident by its root message (channel and ts, in ``private_metadata``), so a
note lands on the incident it was written for even when the alarm has fired again since. A
submission is acked at once (the modal closes) and handled here; a refusal is an ephemeral
answer, never an exception.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any

from bot.access import AccessPolicy
from bot.incidents.changes import change, thread_of
from bot.incidents.messages import SlackText
from bot.incidents.threads import Threads
from bot.metrics import Metrics
from bot.outbound.sender import SlackSender
from bot.render.limits import MAX_MRKDWN, truncate
from bot.render.mrkdwn import escape, mention
from bot.store.base import Incident, Store

log = logging.getLogger(__name__)

NOTE_CALLBACK = "incident_note"
NOTE_BLOCK = "note"
NOTE_INPUT = "note"
MAX_NOTE = 2000  # characters a note may have (the modal's input says so too)


def note_view(incident: Incident) -> dict[str, Any]:
    """The *Add note* modal: one multi-line text field, holding the note already left."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": NOTE_INPUT,
        "multiline": True,
        "max_length": MAX_NOTE,
        "placeholder": {"type": "plain_text", "text": "What was it, and what made it go away?"},
    }
    if incident.note:
        element["initial_value"] = incident.note[:MAX_NOTE]
    return {
        "type": "modal",
        "callback_id": NOTE_CALLBACK,
        "title": {"type": "plain_text", "text": "Resolution note"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps({"channel": incident.channel, "root_ts": incident.root_ts}),
        "blocks": [
            {
                "type": "input",
                "block_id": NOTE_BLOCK,
                "label": {"type": "plain_text", "text": "Note"},
                "element": element,
            }
        ],
    }


def noted_reply(user: str, note: str) -> SlackText:
    return SlackText(text=truncate(f"📝 {mention(user)} left a note: {escape(note)}", MAX_MRKDWN))


class IncidentNotes:
    """*Add note* on a resolved root → the modal → the note kept and shown."""

    def __init__(
        self,
        *,
        store: Store,
        sender: SlackSender,
        threads: Threads,
        access: AccessPolicy,
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._sender = sender
        self._threads = threads
        self._access = access
        self._metrics = metrics

    async def ask(self, incident: Incident, user: str, trigger_id: str) -> str | None:
        """Open the modal for ``incident``; why not, for the person who pressed, or None."""
        if incident.is_open:
            return "A note can be added once the incident is resolved."
        if not incident.root_ts:
            return "This incident has no root message to keep a note on."
        opened = await self._sender.open_view(trigger_id, note_view(incident))
        if not opened.ok:
            log.warning("no note modal for %s (%s): %s", incident.key, user, opened.error)
            return "Slack did not open the note form; please press *Add note* again."
        return None

    async def on_submit(self, body: Mapping[str, Any]) -> None:
        """One ``view_submission`` of the modal (already acked). Never raises."""
        user = str((body.get("user") or {}).get("id", ""))
        view = body.get("view") or {}
        try:
            where = json.loads(str(view.get("private_metadata") or "{}"))
            channel, root_ts = str(where.get("channel", "")), str(where.get("root_ts", ""))
        except (ValueError, AttributeError):
            log.warning("a note submission with unreadable metadata from %s", user)
            return
        values = ((view.get("state") or {}).get("values") or {}).get(NOTE_BLOCK) or {}
        note = str((values.get(NOTE_INPUT) or {}).get("value") or "").strip()[:MAX_NOTE]
        try:
            refusal = await self._save(channel, root_ts, user, note)
        except Exception:
            log.exception("the note on %s/%s failed", channel, root_ts)
            self._metrics.errors.labels("button").inc()
            refusal = "Something went wrong on triagebot's side; the note was not saved."
        if refusal and channel:
            await self._threads.tell(channel, user, refusal)

    async def _save(self, channel: str, root_ts: str, user: str, note: str) -> str | None:
        refused = self._access.channel_refusal(channel)
        if refused:
            return refused
        incident = await self._store.incident_find_by_root(channel, root_ts)
        if incident is None:
            return "triagebot has no record of this incident in this channel."
        if not note:
            return None  # the modal asks for text; an empty one changes nothing
        changed = await change(
            self._store, incident, lambda i: dataclasses.replace(i, note=note, note_by=user)
        )
        if changed is None:
            return "The incident changed while you wrote; please add the note again."
        latest = await self._store.incident_get(changed.key)
        if latest is not None and latest.opened_at == changed.opened_at:
            await self._threads.edit_root(changed)  # the root shows the latest alarm's snapshot
        await self._threads.post(changed.channel, noted_reply(user, note), thread_of(changed))
        return None
