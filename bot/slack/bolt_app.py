"""The Bolt app: listeners registered once, at start-up; each acks at once and hands off."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from bot.incidents.notes import NOTE_CALLBACK
from bot.incidents.timeline_slack import SHORTCUT_CALLBACK, TimelineExports
from bot.render.links import LINK_ACTION_PREFIX
from bot.slack.actions import DETAILS_ACTION, RERUN_ACTION, RunButtons
from bot.slack.commands import CONFIRM_ACTION, TriageCommand
from bot.slack.deps import SlackDeps
from bot.slack.home import HOME_RUN_ACTION, HomeTab
from bot.slack.modal import CALLBACK_ID, PLAYBOOK_ACTION

INCIDENT_ACTIONS = re.compile(r"^incident_")
LINK_ACTIONS = re.compile(f"^{LINK_ACTION_PREFIX}")


class _TokenSkippedFilter(logging.Filter):
    """Bolt reads ``SLACK_BOT_TOKEN`` from the environment by itself and, given a client as well,
    warns that the token is unused — which is the intent: the token comes from ``authorize``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def _quiet_token_warning() -> None:
    bolt_logger = logging.getLogger(f"slack_bolt.{AsyncApp.__name__}")  # Bolt's own logger
    if not any(isinstance(f, _TokenSkippedFilter) for f in bolt_logger.filters):
        bolt_logger.addFilter(_TokenSkippedFilter())


def build_bolt_app(
    deps: SlackDeps,
    *,
    signing_secret: str,
    incident_actions: Any = None,
    incident_notes: Any = None,
) -> AsyncApp:
    """``process_before_response=True``: the HTTP answer is the ack, sent as soon as the
    listener returns — and listeners return at once, their work spawned as tracked tasks."""

    async def authorize(**_: Any) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test round trip on the first request.
        token = deps.settings.secrets.slack_bot_token
        return AuthorizeResult(
            enterprise_id=None, team_id=None, bot_token=token.get_secret_value() if token else None
        )

    _quiet_token_warning()
    app = AsyncApp(
        # Listeners call Slack through deps.sender; Bolt's own client only needs the API URL
        # (the token comes from ``authorize``; Socket Mode's apps.connections.open passes the
        # app token itself).
        client=deps.sender.bolt_client(),
        signing_secret=signing_secret,
        process_before_response=True,
        authorize=authorize,
        request_verification_enabled=True,
    )
    triage = TriageCommand(deps)
    buttons = RunButtons(triage)

    @app.command("/triage")
    async def on_triage(ack: AsyncAck, body: dict[str, Any]) -> None:
        reply = await triage.handle(body)
        await ack(**reply.ack_kwargs())

    @app.action(re.compile(f"^({RERUN_ACTION}|{DETAILS_ACTION}|{CONFIRM_ACTION})$"))
    async def on_run_button(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        deps.tasks.spawn(buttons.on_action(body), name="button")

    if incident_actions is not None:

        @app.action(INCIDENT_ACTIONS)
        async def on_incident_button(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            deps.tasks.spawn(incident_actions(body), name="incident-button")

    if incident_notes is not None:

        @app.view(NOTE_CALLBACK)
        async def on_incident_note(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()  # the modal closes; the note is saved and shown after
            deps.tasks.spawn(incident_notes(body), name="incident-note")

    timelines = TimelineExports(
        store=deps.store,
        sender=deps.sender,
        access=deps.access,
        timezone=deps.settings.slack.timezone,
    )

    @app.shortcut(SHORTCUT_CALLBACK)
    async def on_timeline_shortcut(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()  # the file is uploaded to the thread after
        deps.tasks.spawn(timelines.on_shortcut(body), name="timeline-shortcut")

    @app.action(LINK_ACTIONS)
    async def on_link_button(ack: AsyncAck) -> None:
        await ack()  # a runbook or dashboard button: Slack opens the link, nothing to do here

    home = HomeTab(deps.settings, deps.store, deps.sender, deps.catalog, deps.access)

    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any]) -> None:
        # Bolt acks an event before its listener runs: the tab is built and published after.
        deps.tasks.spawn(home.on_opened(event, deps.clock()), name="home-tab")

    @app.action(HOME_RUN_ACTION)
    async def on_home_run(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        deps.tasks.spawn(home.on_run(body), name="home-run")

    @app.action(PLAYBOOK_ACTION)
    async def on_modal_playbook(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        deps.tasks.spawn(buttons.on_playbook_chosen(body), name="modal-playbook")

    @app.view(CALLBACK_ID)
    async def on_modal(ack: AsyncAck, body: dict[str, Any]) -> None:
        answer = await buttons.on_modal(body)
        await ack(**(answer or {}))

    return app
