"""Runs always finish: a run interrupted by a crash or a restart is resolved by a live replica.

Every run in flight is listed in the store's ``runs:running`` item (``RunJournal``), under the
heartbeat owner of the process running it (``bot.replicas``). A run whose owner has stopped
beating (it was killed, or it restarted under a new pid) is taken over, under a lease named
after the run so that one replica does it, by ``RunRecovery.sweep`` — at start-up and every
half lease after:

- an alarm's run: its message is finished as "interrupted — re-running below", and the
  incident's playbook is run again in the same thread (a new run, journaled like any other);
- a person's run (``/triage``, the modal, a button): its message is finished as interrupted,
  and the person gets an ephemeral saying so and how to run it again.

Either way the run row is finished (``error``): no row stays ``running`` after a restart. A run
is journaled and recorded before its message is posted, so a process killed while Slack took
the post leaves a row without the message's ts: the message is looked for by its delivery id
(``run:<run id>``) and finished, or, when Slack will not say, left to the next sweep. An
alarm's run whose process died before the run started (``pending_run``) is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.errors import BotError
from bot.leases import HeldLeases, held_lease
from bot.outbound.live import LiveMessages
from bot.playbooks.catalog import Catalog
from bot.replicas import Heartbeat
from bot.results import RunResult, Status, StepResult
from bot.run_journal import RunJournal, Running, pending_run
from bot.store.base import RunRecord, Store
from bot.tasks import BackgroundLoop

log = logging.getLogger(__name__)


class RunNotResolved(Exception):
    """Not resolved this sweep; the next one tries again."""


Rerun = Callable[[str, str, str | None], Awaitable[bool]]
"""Run an incident's playbook again: ``rerun(incident_key, channel, thread_ts)``; False when
the incident (or its alarm) is not known any more."""


class RunRecovery:
    """Finishes the runs of processes that are gone (``sweep``), and keeps doing so (``start``)."""

    def __init__(
        self,
        *,
        journal: RunJournal,
        store: Store,
        heartbeat: Heartbeat,
        catalog: Catalog,
        views: LiveMessages,
        rerun: Rerun,
        lease: timedelta,
        clock: Callable[[], datetime],
        held: HeldLeases,
    ) -> None:
        self._journal = journal
        self._store = store
        self._heartbeat = heartbeat
        self._catalog = catalog
        self._views = views
        self._rerun = rerun
        self._lease = lease
        self._clock = clock
        self._held = held
        self._loop = BackgroundLoop("run-recovery")

    def start(self) -> None:
        """Sweep now and every half lease until ``stop``."""
        self._loop.start(self._sweep_forever)

    async def stop(self) -> None:
        await self._loop.stop()

    async def sweep(self) -> int:
        """Resolve every run whose process is gone; how many this replica resolved."""
        resolved = 0
        for entry in await self._journal.entries():
            if entry.owner == self._journal.owner or not await self._heartbeat.is_gone(entry.owner):
                continue
            name = f"run-recovery:{entry.run_id}"
            async with held_lease(
                self._store, name, self._journal.owner, self._lease, self._clock, self._held
            ) as ours:
                if ours and entry in await self._journal.entries():  # not done by another
                    try:
                        await self._resolve(entry)
                    except RunNotResolved as exc:
                        log.warning("%s; the next sweep tries again", exc)
                        continue
                    resolved += 1
        return resolved

    async def _sweep_forever(self) -> None:
        every = self._lease.total_seconds() / 2
        while True:
            try:
                await self.sweep()
            except Exception:  # the store may be briefly unavailable: the next sweep tries
                log.exception("could not resolve interrupted runs")
            await asyncio.sleep(every)

    async def _resolve(self, entry: Running) -> None:
        if entry.run_id == pending_run(entry.incident):
            await self._start_pending(entry)
            return
        record = await self._store.get_run(entry.run_id)
        if record is None or record.outcome != "running":
            await self._journal.remove(entry.run_id)  # it finished after all
            return
        again = record.source == "alarm" and bool(entry.incident)
        why = (
            "interrupted by a restart of triagebot — running it again below"
            if again
            else "interrupted by a restart of triagebot; nothing more will come from this run"
        )
        log.warning("run %s of %s (%s): %s", record.run_id, record.playbook, entry.owner, why)
        live = self._views(record.channel, record.thread_ts or None, record.user)
        live.ts = record.message_ts or None
        if live.ts is None and await live.find_posted(record.run_id) is None:
            # Killed while Slack took its first post, perhaps: never post it again unknowing.
            raise RunNotResolved(f"run {record.run_id}: Slack would not say if it has its message")
        result = self._interrupted(record, why)
        await live.finish(result)
        if live.ts and live.ts != record.message_ts:  # found by its delivery id, or posted now
            await self._store.record_run(dataclasses.replace(record, message_ts=live.ts))
        statuses = {s.step_id: str(s.status) for s in result.steps}
        await self._store.finish_run(record.run_id, self._clock(), "error", statuses)
        await self._journal.remove(record.run_id)
        if again:
            if not await self._rerun(entry.incident, record.channel, record.thread_ts or None):
                log.warning("run %s not run again: incident %s is gone", record.run_id, entry)
            return
        params = " ".join(f"{k}={v}" for k, v in record.params.items())
        again_with = f"/triage {record.playbook} {params}".strip()
        await live.tell(
            f"Your run of {record.playbook} (run {record.run_id}) was interrupted by a restart "
            f"of triagebot before it finished. Run it again with `{again_with}`."
        )

    async def _start_pending(self, entry: Running) -> None:
        """An incident whose run had not started when its process died: start it in the root's
        thread (no root yet: the alarm's own retry posts one, and journals it again)."""
        incident = await self._store.incident_get(entry.incident)
        await self._journal.remove(entry.run_id)
        if incident is None or not incident.root_ts:
            return
        log.warning(
            "incident %s: its run never started (%s is gone); starting it", entry, entry.owner
        )
        await self._rerun(incident.key, incident.channel, incident.root_ts)

    def _interrupted(self, record: RunRecord, why: str) -> RunResult:
        """The run as far as the store knows it, finished now: steps that had not finished
        are skipped."""
        title, uses = record.playbook, {}
        with contextlib.suppress(BotError):
            playbook = self._catalog.get(record.playbook)
            title, uses = playbook.display_title, {s.id: s.uses for s in playbook.steps}
        steps = tuple(
            StepResult(
                step_id=step_id,
                uses=uses.get(step_id, ""),
                status=_final(status),
                summary="" if _final(status) is not Status.SKIPPED else "interrupted",
            )
            for step_id, status in record.step_statuses.items()
        )
        return RunResult(
            run_id=record.run_id,
            playbook=record.playbook,
            title=title,
            params=dict(record.params),
            steps=steps,
            started_at=record.started_at,
            finished_at=self._clock(),
            requested_by=record.user,
            error=why,
        )


def _final(status: str) -> Status:
    try:
        found = Status(status)
    except ValueError:
        return Status.SKIPPED
    return found if found.finished else Status.SKIPPED
