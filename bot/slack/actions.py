"""Buttons and the modal submission. Each checks the same permissions as ``/triage``."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from bot.errors import BotError, ParamError
from bot.playbooks.params import parse_kv
from bot.slack import messages
from bot.slack.commands import Reply, TriageCommand
from bot.slack.modal import PARAMS_BLOCK, PLAYBOOK_BLOCK, read_submission

log = logging.getLogger(__name__)

RERUN_ACTION = "triage_rerun"
DETAILS_ACTION = "triage_details"


class RunButtons:
    """Re-run, Details and the mutating-playbook confirmation."""

    def __init__(self, command: TriageCommand) -> None:
        self.command = command
        self.deps = command.deps

    async def on_action(self, body: Mapping[str, Any]) -> None:
        """Handle one block_actions payload (after the ack). Never raises."""
        user = str(body.get("user", {}).get("id", ""))
        channel = str(
            body.get("channel", {}).get("id", "") or body.get("container", {}).get("channel_id", "")
        )
        message = body.get("message") or {}
        thread_ts = str(message.get("thread_ts") or message.get("ts") or "") or None
        for action in body.get("actions", []):
            try:
                reply = await self._one(action, user, channel, thread_ts)
            except BotError as exc:
                reply = Reply(exc.user_message)
            except Exception:
                log.exception("button %s failed", action.get("action_id"))
                self.deps.metrics.errors.labels("button").inc()
                reply = Reply(messages.GENERIC_FAILURE.format(ref=str(action.get("action_id"))))
            if reply.text:
                await self.command.tell(channel, user, reply.text)

    async def _one(
        self, action: Mapping[str, Any], user: str, channel: str, thread_ts: str | None
    ) -> Reply:
        action_id = action.get("action_id")
        value = str(action.get("value", ""))
        if action_id == RERUN_ACTION:
            record = await self.deps.store.get_run(value)
            if record is None:
                return Reply(
                    f"Run `{value}` is not in the history any more; run the playbook again."
                )
            playbook = self.deps.catalog.get(record.playbook)
            params = {k: v for k, v in record.params.items() if k in playbook.params}
            return await self.command.start_run(
                playbook, params, user, channel, source="button", thread_ts=thread_ts
            )
        if action_id == DETAILS_ACTION:
            return await self._details(value, user, channel, thread_ts)
        if action_id == "triage_confirm_run":
            request = json.loads(value)
            playbook = self.deps.catalog.get(str(request["playbook"]))
            return await self.command.start_run(
                playbook,
                dict(request.get("params", {})),
                user,
                channel,
                source="button",
                confirmed=True,
            )
        return Reply()

    async def _details(self, run_id: str, user: str, channel: str, thread_ts: str | None) -> Reply:
        record = await self.deps.store.get_run(run_id)
        refused = self.deps.access.channel_refusal(channel)
        if refused:
            return Reply(refused)
        if record is not None:
            playbook = self.deps.catalog.get(record.playbook)
            refused = await self.deps.access.refusal(playbook, user, channel)
            if refused:
                return Reply(refused)
        output = await self.deps.store.run_output(run_id)
        if output is None:
            return Reply(messages.OUTPUT_GONE)
        await self.deps.client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            content=output,
            filename=f"triage-{run_id}.txt",
            title=f"Full output of run {run_id}",
        )
        return Reply()

    async def on_modal(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Validate a modal submission: errors go back into the modal; else the run starts."""
        submission = read_submission(body.get("view", {}))
        user = str(body.get("user", {}).get("id", ""))
        try:
            playbook = self.deps.catalog.get(submission.playbook)
        except BotError as exc:
            return {"response_action": "errors", "errors": {PLAYBOOK_BLOCK: exc.user_message[:150]}}
        try:
            words, params = parse_kv(submission.params_text)
            if words:
                raise ParamError(f"`{words[0]}` is not a key=value pair.")
            reply = await self.command.start_run(
                playbook, params, user, submission.channel, source="modal"
            )
        except BotError as exc:
            return {"response_action": "errors", "errors": {PARAMS_BLOCK: exc.user_message[:150]}}
        if reply.text:
            self.deps.tasks.spawn(
                self.command.tell(submission.channel, user, reply.text), name="modal-reply"
            )
        return None
