"""``/triage``: answer at once (the ack), do the work after.

Everything that can be decided without AWS or Slack — grammar, playbook name, parameters,
channel and admin rules — is answered in the ack as an ephemeral message. Runs, the modal,
alarm look-ups and the digest happen in tracked background tasks.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.access import Pending
from bot.alarms.routing import route
from bot.errors import BotError
from bot.incidents.links import AlarmLinks
from bot.incidents.timeline_slack import TimelineExports
from bot.playbooks.params import resolve_params
from bot.playbooks.schema import Playbook
from bot.runs import RunRequest
from bot.slack import messages
from bot.slack.deps import SlackDeps
from bot.slack.grammar import (
    AlarmRun,
    Cost,
    Handover,
    Help,
    History,
    ListPlaybooks,
    OpenModal,
    PlaybookRun,
    Timeline,
    parse_command,
)
from bot.slack.modal import playbook_modal

log = logging.getLogger(__name__)
CONFIRM_ACTION = "triage_confirm_run"


@dataclass(frozen=True)
class _Start:
    """A run asked for, its parameters resolved, waiting on the access answer."""

    playbook: Playbook
    raw: Mapping[str, str]
    params: Mapping[str, Any]
    user: str
    channel: str
    source: str
    thread_ts: str | None
    confirmed: bool


@dataclass(frozen=True)
class Reply:
    """What the ack carries: nothing, or an ephemeral message for the caller."""

    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def ack_kwargs(self) -> dict[str, Any]:
        if not self.text:
            return {}
        kwargs: dict[str, Any] = {"text": self.text, "response_type": "ephemeral"}
        if self.blocks:
            kwargs["blocks"] = self.blocks
        return kwargs


class TriageCommand:
    def __init__(self, deps: SlackDeps) -> None:
        self.deps = deps

    async def handle(self, body: Mapping[str, Any]) -> Reply:
        """Decide the ack for one ``/triage`` request and start its work. Never raises."""
        try:
            return await self._handle(body)
        except BotError as exc:
            return Reply(messages.error_text(exc))
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("/triage failed (reference %s)", ref)
            self.deps.metrics.errors.labels("command").inc()
            return Reply(messages.GENERIC_FAILURE.format(ref=ref))

    async def _handle(self, body: Mapping[str, Any]) -> Reply:
        deps = self.deps
        user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
        if not deps.tasks.accepting:
            return Reply(messages.DRAINING)
        refused = deps.access.channel_refusal(channel)
        if refused:
            return Reply(refused)
        command = parse_command(str(body.get("text", "")))
        if isinstance(command, Help):
            return Reply(messages.HELP)
        if isinstance(command, ListPlaybooks):
            return Reply(messages.playbook_list(deps.catalog))
        if isinstance(command, History):  # the store is read after the ack
            deps.tasks.spawn(self._history(user, channel, command.limit), name="history")
            return Reply()
        if isinstance(command, Cost):
            if deps.post_digest is None:
                return Reply(messages.NO_DIGEST)
            deps.tasks.spawn(deps.post_digest(channel), name="digest")
            return Reply()
        if isinstance(command, Handover):  # the store is read after the ack
            deps.tasks.spawn(deps.post_handover(channel, command.since), name="handover")
            return Reply()
        if isinstance(command, OpenModal):
            view = playbook_modal(deps.catalog, channel)
            deps.tasks.spawn(self._open_modal(str(body.get("trigger_id", "")), view), name="modal")
            return Reply()
        if isinstance(command, AlarmRun):
            deps.tasks.spawn(self._alarm_run(command.alarm_name, user, channel), name="alarm")
            return Reply()
        if isinstance(command, Timeline):
            deps.tasks.spawn(self._timeline(command.alarm_name, user, channel), name="timeline")
            return Reply()
        assert isinstance(command, PlaybookRun)
        return await self.start_run(
            deps.catalog.get(command.playbook), command.params, user, channel
        )

    async def start_run(
        self,
        playbook: Playbook,
        raw: Mapping[str, str],
        user: str,
        channel: str,
        *,
        source: str = "slash",
        thread_ts: str | None = None,
        confirmed: bool = False,
    ) -> Reply:
        """Check parameters and access, then run in the background (or ask to confirm).
        Waits on nothing: when access needs a user-group lookup, that and the rest happen
        after the ack, and a refusal comes as an ephemeral message."""
        deps = self.deps
        params = resolve_params(playbook, raw, {"alarm": None, "now": deps.clock()})
        run = _Start(playbook, raw, params, user, channel, source, thread_ts, confirmed)
        refused = deps.access.refusal_now(playbook, user, channel)
        if isinstance(refused, Pending):
            deps.tasks.spawn(self._start_after_lookup(run), name="access")
            return Reply()
        if refused:
            return Reply(refused)
        return self._begin(run)

    async def _start_after_lookup(self, run: _Start) -> None:
        refused = await self.deps.access.refusal(run.playbook, run.user, run.channel)
        reply = Reply(refused) if refused else self._begin(run)
        if reply.text:
            await self.tell(run.channel, run.user, reply.text, reply.blocks or None)

    def _begin(self, run: _Start) -> Reply:
        """Access granted: ask to confirm a mutating playbook, else start the run."""
        if run.playbook.mutating and not run.confirmed:
            return confirm_reply(run.playbook, run.raw)
        deps = self.deps
        request = RunRequest(
            playbook=run.playbook,
            params=run.params,
            raw_params=dict(run.raw),
            channel=run.channel,
            user=run.user,
            source=run.source,
            thread_ts=run.thread_ts,
        )
        deps.tasks.spawn(deps.runs.run(request), name=f"run:{request.run_id}")
        return Reply()

    async def _history(self, user: str, channel: str, limit: int) -> None:
        records = await self.deps.store.recent_runs(channel, limit)
        await self.tell(channel, user, messages.history(records, limit))

    async def _open_modal(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self.deps.sender.open_view(trigger_id, view)

    async def _alarm_run(self, name: str, user: str, channel: str) -> None:
        deps = self.deps
        try:
            alarm = await deps.lookup_alarm(name)
        except BotError as exc:  # AWS down, throttled, denied: say so, never stay silent
            await self.tell(channel, user, messages.alarm_lookup_failed(name, exc))
            return
        if alarm is None:
            await self.tell(channel, user, messages.no_such_alarm(name))
            return
        decision = route(alarm, deps.settings.routes, deps.settings.slack.default_channel)
        try:
            playbook = deps.catalog.get(decision.playbook)
            params = resolve_params(
                playbook, {}, {"alarm": alarm.template_context(), "now": deps.clock()}
            )
            refused = await deps.access.refusal(playbook, user, channel)
        except BotError as exc:
            await self.tell(channel, user, messages.error_text(exc))
            return
        if refused:
            await self.tell(channel, user, refused)
            return
        await deps.runs.run(
            RunRequest(
                playbook=playbook,
                params=params,
                raw_params={"alarm": name, "state": alarm.state},
                channel=channel,
                user=user,
                source="slash",
                alarm=alarm,
                links=AlarmLinks(deps.settings, deps.catalog)(alarm),  # as its incident's run
            )
        )

    async def _timeline(self, name: str, user: str, channel: str) -> None:
        """The alarm's latest incident in this channel, exported to its thread."""
        deps = self.deps
        try:
            alarm = await deps.lookup_alarm(name)
        except BotError as exc:
            await self.tell(channel, user, messages.alarm_lookup_failed(name, exc))
            return
        if alarm is None:
            await self.tell(channel, user, messages.no_such_alarm(name))
            return
        incident = await deps.store.incident_get(alarm.incident_key)
        if incident is None or incident.channel != channel:
            await self.tell(channel, user, messages.no_incident(name))
            return
        exports = TimelineExports(
            store=deps.store,
            sender=deps.sender,
            access=deps.access,
            timezone=deps.settings.slack.timezone,
        )
        refused = await exports.export(incident)
        if refused:
            await self.tell(channel, user, refused)

    async def tell(
        self, channel: str, user: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        """An ephemeral message after the ack (``text`` is the fallback when ``blocks``)."""
        await self.deps.sender.ephemeral(channel, user, text, blocks)


def confirm_reply(playbook: Playbook, raw: Mapping[str, str]) -> Reply:
    """An ephemeral question with a button behind Slack's confirm dialog."""
    text = f"`{playbook.name}` changes AWS resources. Run it?"
    value = json.dumps({"playbook": playbook.name, "params": dict(raw)})
    button = {
        "type": "button",
        "action_id": CONFIRM_ACTION,
        "text": {"type": "plain_text", "text": f"Run {playbook.name}"[:75]},
        "style": "danger",
        "value": value[:2000],
        "confirm": {
            "title": {"type": "plain_text", "text": "Change AWS?"},
            "text": {
                "type": "mrkdwn",
                "text": f"`{playbook.name}` is marked mutating: it changes AWS.",
            },
            "confirm": {"type": "plain_text", "text": "Run it"},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger",
        },
    }
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":warning: {text}"}},
        {"type": "actions", "elements": [button]},
    ]
    return Reply(text, blocks)
