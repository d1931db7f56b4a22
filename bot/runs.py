"""Runs that report to Slack: the one path every Slack-visible run takes (slash command, modal,
button, alarm). It shows the run in a view (the live message, ``bot.outbound.live``), runs the
playbook, records the run in the store, and counts it. Slack being down never loses the run:
the record is written either way. Nothing here knows Slack: a ``RunView`` is whatever shows a
run, and the composition root says which (``RunViews``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.alarms.model import Alarm
from bot.correlate import likely_lines
from bot.executor import Executor
from bot.metrics import Metrics
from bot.playbooks.schema import Playbook
from bot.render.blocks import full_output
from bot.render.links import LinkButton
from bot.results import RunResult, Status, StepResult
from bot.store.base import RunRecord, Store

if TYPE_CHECKING:
    from bot.run_journal import RunJournal

log = logging.getLogger(__name__)
# Runs executing at once; more wait their turn (their message already shows them pending), so a
# burst of commands or an alarm storm cannot starve the event loop that answers Slack.
MAX_CONCURRENT_RUNS = 8


@dataclass(frozen=True)
class RunRequest:
    """Everything needed to run a playbook where Slack can see it."""

    playbook: Playbook
    params: Mapping[str, Any]  # resolved, typed
    raw_params: Mapping[str, str]  # as the person typed them (shown, stored, re-run)
    channel: str
    user: str  # Slack user id, or "alarm"
    source: str  # slash | modal | button | alarm
    thread_ts: str | None = None
    alarm: Alarm | None = None
    pending: str = ""  # the journal entry this run takes over (bot.run_journal.pending_run)
    links: tuple[LinkButton, ...] = ()  # the alarm's runbook and dashboard, on the final version
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


class RunView(Protocol):
    """Where a run is shown while it runs (``bot.outbound.live.LiveMessage``)."""

    @property
    def ts(self) -> str | None:
        """The message's ts once posted (None when it could not be)."""
        ...

    async def post(self, run: RunResult) -> str | None:
        """Show the first version (every step pending)."""
        ...

    async def show(self, run: RunResult) -> None:
        """Show a snapshot; returns at once (the view paces itself)."""
        ...

    async def finish(
        self, run: RunResult, *, likely: Sequence[str] = (), links: Sequence[LinkButton] = ()
    ) -> bool:
        """Show the final version, opening with the correlator's suspect lines and ending with
        the link buttons (retried until shown, within a bound); False when it could not be."""
        ...


def likely_of(result: RunResult, alarm: Alarm | None) -> tuple[str, ...]:
    """What the run's findings point at (``bot.correlate``), most likely first: the lines its
    final message and its *Details* file open with, and (the first) the incident root's."""
    return likely_lines(result.steps, alarm, now=result.started_at)


RunViews = Callable[[str, str | None, str], RunView]
"""A new view for a run: ``views(channel, thread_ts, requested_by)``."""


class SlackRuns:
    """Runs playbooks and shows them live in Slack."""

    def __init__(
        self,
        executor: Executor,
        store: Store,
        views: RunViews,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_concurrent: int = MAX_CONCURRENT_RUNS,
        journal: RunJournal | None = None,
    ) -> None:
        self._journal = journal  # runs in flight, so a restart finishes them (bot.run_recovery)
        self._executor = executor
        self._store = store
        self._views = views
        self._metrics = metrics
        self._clock = clock
        self._slots = asyncio.Semaphore(max_concurrent)

    async def run(self, request: RunRequest) -> RunResult:
        """Post the live message, run, finish the message, record the run; never raises for
        Slack or step failures."""
        live = self._views(request.channel, request.thread_ts, request.user)
        skeleton = self._skeleton(request)
        record = RunRecord(
            run_id=request.run_id,
            channel=request.channel,
            user=request.user,
            playbook=request.playbook.name,
            params=dict(request.raw_params),
            source=request.source,
            started_at=skeleton.started_at,
            finished_at=None,
            outcome="running",
            step_statuses={s.step_id: str(s.status) for s in skeleton.steps},
            thread_ts=request.thread_ts or "",
        )
        # Journaled and recorded before its message is posted: a process killed while Slack
        # takes the post leaves a run that recovery finishes (``bot.run_recovery`` finds the
        # message by its delivery id), not a message showing "pending" for ever.
        if self._journal is not None:  # before the row: a row "running" is always journaled
            incident = request.alarm.incident_key if request.alarm is not None else ""
            await self._journal.add(request.run_id, incident=incident, replaces=request.pending)
        await self._store.record_run(record)
        await live.post(skeleton)
        if live.ts:
            await self._store.record_run(dataclasses.replace(record, message_ts=live.ts))
        try:
            async with self._slots:  # the skeleton is up already: a queued run shows as pending
                result = await self._executor.run(
                    request.playbook,
                    request.params,
                    alarm=request.alarm,
                    requested_by=request.user,
                    run_id=request.run_id,
                    on_update=live.show,
                )
        except Exception:  # the executor never raises for a step; this is a bug
            log.exception("run %s of %s failed", request.run_id, request.playbook.name)
            self._metrics.errors.labels("run").inc()
            result = dataclasses.replace(
                skeleton, finished_at=self._clock(), error=f"internal error (run {request.run_id})"
            )
        likely = likely_of(result, request.alarm)
        outcome = "error" if result.error else ("warn" if result.status is Status.WARN else "ok")
        # The record first: the final message may wait for Slack (retried for a while).
        await self._store.finish_run(
            request.run_id,
            result.finished_at or self._clock(),
            outcome,
            {s.step_id: str(s.status) for s in result.steps},
        )
        await self._store.save_output(request.run_id, full_output(result, likely=likely))
        self._metrics.runs.labels(request.playbook.name, outcome).inc()
        for step in result.steps:
            self._metrics.step_seconds.labels(step.uses, str(step.status)).observe(step.duration_s)
        await live.finish(result, likely=likely, links=request.links)
        if self._journal is not None:
            await self._journal.remove(request.run_id)
        return result

    def _skeleton(self, request: RunRequest) -> RunResult:
        return RunResult(
            run_id=request.run_id,
            playbook=request.playbook.name,
            title=request.playbook.display_title,
            params=dict(request.raw_params),
            steps=tuple(
                StepResult(step_id=s.id, uses=s.uses, status=Status.PENDING)
                for s in request.playbook.steps
            ),
            started_at=self._clock(),
            requested_by=request.user,
        )
