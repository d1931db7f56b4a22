"""Buttons, the modal's playbook select and its submission.

Each checks the same permissions as ``/triage``."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from bot.errors import BotError, ParamError
from bot.render.mrkdwn import file_name, file_title
from bot.slack import messages
from bot.slack.commands import Reply, TriageCommand
from bot.slack.modal import (
    NO_PLAYBOOK,
    PLAYBOOK_ACTION,
    PLAYBOOK_BLOCK,
    block_for_error,
    error_answer,
    parameter_view,
    read_metadata,
    read_submission,
    still_loading,
)

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
                reply = Reply(messages.error_text(exc))
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
            if record is None or record.channel != channel:
                # Gone — or the button names another channel's run (a forged payload): this
                # channel's buttons act on this channel's runs only.
                return Reply(messages.run_not_here(value))
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
        if record is not None and record.channel != channel:
            return Reply(messages.run_not_here(run_id))
        if record is not None:
            playbook = self.deps.catalog.get(record.playbook)
            refused = await self.deps.access.refusal(playbook, user, channel)
            if refused:
                return Reply(refused)
        output = await self.deps.store.run_output(run_id)
        if output is None:
            return Reply(messages.OUTPUT_GONE)
        await self.deps.sender.upload(
            channel,
            thread_ts=thread_ts,
            content=output,
            filename=file_name(f"triage-{run_id}", ".txt"),
            title=file_title(f"Full output of run {run_id}"),
        )
        return Reply()

    async def on_modal(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Validate a modal submission: errors go back into the modal (under the block they are
        about); else the run starts the way ``/triage <playbook> key=value`` starts it."""
        submission = read_submission(body.get("view") or {})
        user = str(body.get("user", {}).get("id", ""))
        name = submission.playbook or submission.shown
        if not name:
            return error_answer(PLAYBOOK_BLOCK, NO_PLAYBOOK)
        if submission.shown and submission.shown != name:
            return error_answer(PLAYBOOK_BLOCK, still_loading(name))
        try:
            playbook = self.deps.catalog.get(name)
        except BotError as exc:
            return error_answer(PLAYBOOK_BLOCK, exc.user_message)
        try:
            reply = await self.command.start_run(
                playbook, submission.params, user, submission.channel, source="modal"
            )
        except ParamError as exc:
            block = block_for_error(submission, playbook, exc.user_message)
            return error_answer(block, exc.user_message)
        except BotError as exc:
            return error_answer(PLAYBOOK_BLOCK, exc.user_message)
        if reply.text:
            self.deps.tasks.spawn(
                self.command.tell(submission.channel, user, reply.text, reply.blocks or None),
                name="modal-reply",
            )
        return None

    async def on_playbook_chosen(self, body: Mapping[str, Any]) -> None:
        """A playbook was picked in the modal: show its parameters (``views.update`` with the
        view's hash, so a stale update never overwrites a newer view). Never raises."""
        view = body.get("view") or {}
        chosen = next(
            (
                str((a.get("selected_option") or {}).get("value") or "")
                for a in body.get("actions", [])
                if a.get("action_id") == PLAYBOOK_ACTION
            ),
            "",
        )
        channel, _ = read_metadata(view)
        try:
            playbook = self.deps.catalog.get(chosen)
            # With the view's hash: a newer choice that already updated the view wins
            # (hash_conflict, logged by the sender); the submission check catches a view left
            # showing another playbook's parameters.
            await self.deps.sender.update_view(
                str(view.get("id", "")),
                parameter_view(self.deps.catalog, channel, playbook),
                view_hash=str(view.get("hash", "")) or None,
            )
        except BotError as exc:
            log.info("modal: %s", exc.user_message)
        except Exception:
            log.exception("modal update for %s failed", chosen)
            self.deps.metrics.errors.labels("button").inc()
