"""Which runs are in flight, and which process runs each: the store's ``runs:running`` item.

A run is listed from before anything of it can be lost (an alarm's from before its root is
posted, as ``pending_run``; every run once its row is written) until its row is finished, under
the heartbeat owner of its process (``bot.replicas``). ``bot.run_recovery`` finishes the runs of
processes that are gone. One compare-and-set item, because every store has those; it holds only
the runs in flight (a handful), so it stays small.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.store.base import Store

log = logging.getLogger(__name__)

JOURNAL = "runs:running"
_CAS_ATTEMPTS = 20


@dataclass(frozen=True)
class Running:
    """One run in flight: who runs it, and the incident an alarm's run belongs to."""

    run_id: str
    owner: str
    incident: str = ""


class RunJournal:
    """The runs in flight, and the process running each."""

    def __init__(self, store: Store, owner: str) -> None:
        self._store = store
        self.owner = owner

    async def add(self, run_id: str, *, incident: str = "", replaces: str = "") -> None:
        """Journal ``run_id`` as this process's; ``replaces`` (a ``pending_run``) goes with it."""
        entry = Running(run_id, self.owner, incident)
        gone = {run_id, replaces}
        await self._change(lambda runs: [*(r for r in runs if r.run_id not in gone), entry])

    async def remove(self, run_id: str) -> None:
        await self._change(lambda runs: [r for r in runs if r.run_id != run_id])

    async def entries(self) -> list[Running]:
        return _parse(await self._store.schedule_get(JOURNAL))

    async def _change(self, changed: Callable[[list[Running]], list[Running]]) -> None:
        for attempt in range(_CAS_ATTEMPTS):
            raw = await self._store.schedule_get(JOURNAL)
            new = json.dumps([vars(r) for r in changed(_parse(raw))])
            if await self._store.schedule_cas(JOURNAL, raw, new):
                return
            await asyncio.sleep(min(0.01 * 2**attempt, 0.5))  # another run started or ended
        log.error("the run journal kept changing; not updated")


def pending_run(incident: str) -> str:
    """The journal entry of an incident's run from before its root is posted until the run
    itself is journaled: a process killed in between leaves it, and the run is started again."""
    return f"pending:{incident}"


def _parse(raw: str | None) -> list[Running]:
    if not raw:
        return []
    return [Running(**item) for item in json.loads(raw)]
