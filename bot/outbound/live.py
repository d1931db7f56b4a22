"""A run's message in Slack, kept up to date: posted at once, edited as steps finish.

Edits are paced to one per edit interval per message (a second; ``Timings.live_edit_interval``),
changes in between coalesced into the next edit; the final version carries the buttons, and
the full output goes into a file in the thread when it does not fit. Every call goes through
the sender (``bot.outbound.sender``), whose edit budget is the workspace's; Slack failing never
fails the run: the sender logs and counts it.

The final version always arrives, or someone is told. With the outbox (the server's), a final
version Slack did not take is kept in the store and sent when Slack is back, however long that
is and across restarts (``bot.outbound.outbox``); without one (a one-shot command), it is
retried (backing off from ``Timings.slack_backoff``) until Slack takes it or
``Timings.run_final_retry`` has passed. When the first post never made it, the final version is
posted instead of edited (the post is the run's one delivery, ``run:<run id>``, so a first post
that landed unseen is found and edited). A person whose result Slack refused, or could not be
shown in time, gets an ephemeral message saying so.
``LiveMessage`` is the ``RunView`` that ``bot.runs`` shows a run in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from bot.outbound.outbox import Outbox
from bot.outbound.sender import Sent, SlackSender
from bot.render.blocks import full_output, needs_file, run_blocks, run_fallback_text
from bot.render.links import LinkButton
from bot.results import RunResult
from bot.timings import DEFAULTS

log = logging.getLogger(__name__)


class LiveMessage:
    """One run's message in ``channel`` (in ``thread_ts``'s thread when given)."""

    def __init__(
        self,
        sender: SlackSender,
        channel: str,
        *,
        thread_ts: str | None = None,
        requested_by: str = "",
        edit_interval: timedelta = DEFAULTS.live_edit_interval,
        final_retry: timedelta = DEFAULTS.run_final_retry,
        retry_every: timedelta = DEFAULTS.slack_backoff,
        outbox: Outbox | None = None,
    ) -> None:
        self._sender = sender
        self._outbox = outbox  # keeps the final version until Slack takes it
        self._final_retry = final_retry.total_seconds()  # the final version is tried this long
        self._retry_every = retry_every.total_seconds()  # first wait between tries; doubles
        self.channel = channel
        self.thread_ts = thread_ts
        self.requested_by = requested_by
        self._edit_interval = edit_interval.total_seconds()  # at most one edit this often
        self.ts: str | None = None
        self._last_edit = 0.0
        self._lock = asyncio.Lock()
        self._finished = False  # set by finish(): snapshots still waiting are moot
        self._pending: RunResult | None = None
        self._timer: asyncio.Task[None] | None = None

    async def post(self, run: RunResult) -> str | None:
        """Post the first version (every step pending); returns its ts, or None if Slack failed."""
        sent = await self._post_run(
            run, run_blocks(run, requested_by=self.requested_by, buttons=False)
        )
        if sent.ok:
            self.ts = sent.ts
            self._last_edit = time.monotonic()
        return self.ts

    async def find_posted(self, run_id: str) -> bool | None:
        """Look for run ``run_id``'s message among the channel's (or thread's) recent ones, for
        a run whose process died before it learnt whether Slack took the post: True (found,
        ``ts`` set), False (not there), None (Slack did not answer: nobody knows)."""
        answered, found = await self._sender.look_for(
            self.channel, f"run:{run_id}", thread_ts=self.thread_ts
        )
        if found is not None:
            self.ts = found.ts
        return (found is not None) if answered else None

    async def show(self, run: RunResult) -> None:
        """Show a snapshot, at most once per edit interval. Returns at once: the newest snapshot
        waits for its turn, and one still waiting when the run finishes is dropped (the final
        version goes out at once instead)."""
        self._pending = run
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._show_when_due())

    async def _show_when_due(self) -> None:
        # Loop: a snapshot that arrives while one is being shown gets its own turn.
        while self._pending is not None and not self._finished:
            wait = self._last_edit + self._edit_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._lock:
                run, self._pending = self._pending, None
                if run is not None and not self._finished:
                    await self._edit(run, buttons=False)

    async def finish(
        self, run: RunResult, *, likely: Sequence[str] = (), links: Sequence[LinkButton] = ()
    ) -> bool:
        """The final version, with buttons (``links`` after its own), opening with ``likely``
        (the correlator's suspect lines); the full output as a file when it did not fit. False
        when Slack never took it (the person who asked is told, when Slack lets us).

        No waiting for a snapshot being shown: the sender sends edits of one message in order,
        and a snapshot still waiting for the edit budget is replaced by this version."""
        self._finished = True
        blocks = run_blocks(
            run, requested_by=self.requested_by, buttons=True, likely=likely, links=links
        )
        if self._outbox is not None:
            sent = await self._final(run, blocks)
            if sent.queued:
                log.info("run %s: its final message waits in the outbox", run.run_id)
                return True
        else:
            sent = await self._retried(lambda: self._final(run, blocks))
        if not sent.ok:
            log.error("run %s: Slack never took its final message: %s", run.run_id, sent.error)
            await self.tell(f"{run_fallback_text(run)} — its message could not be posted here")
            return False
        if needs_file(run, likely=likely):
            await self.upload_output(run, likely=likely)
        return True

    async def tell(self, text: str) -> bool:
        """An ephemeral message for the person who asked for the run (none for an alarm's),
        retried like the final version; True once Slack took it."""
        if self.requested_by in ("", "alarm", "cli"):
            return False
        user = self.requested_by
        sent = await self._retried(lambda: self._sender.ephemeral(self.channel, user, text))
        return sent.ok

    async def _final(self, run: RunResult, blocks: Sequence[Mapping[str, Any]]) -> Sent:
        """One try at the final version: an edit, or a post when there is no message yet."""
        if self.ts is None:
            sent = await self._post_run(run, blocks, kept=True)
            if not sent.ok:
                return sent
            self.ts = sent.ts
            if not sent.adopted:
                return sent  # posted as the final version
        text = run_fallback_text(run)
        if self._outbox is not None:
            final = f"final:{run.run_id}"
            return await self._outbox.post(self.channel, text, blocks, delivery=final, edit=self.ts)
        return await self._sender.update(self.channel, self.ts, text, blocks)

    async def _retried(self, attempt: Callable[[], Awaitable[Sent]]) -> Sent:
        """``attempt`` until Slack takes it, refuses it for good, or the final retry is over."""
        deadline = time.monotonic() + self._final_retry
        wait = self._retry_every
        while True:
            sent = await attempt()
            if sent.ok or sent.refused or time.monotonic() + wait > deadline:
                return sent
            await asyncio.sleep(wait)
            wait = min(2 * wait, 30.0)

    async def _post_run(
        self, run: RunResult, blocks: Sequence[Mapping[str, Any]], *, kept: bool = False
    ) -> Sent:
        """Post the run's message: one delivery per run, named in its metadata; ``kept``:
        through the outbox, when there is one (the final version)."""
        text = run_fallback_text(run)
        about = {"kind": "run", "run_id": run.run_id, "playbook": run.playbook}
        delivery = f"run:{run.run_id}"
        if kept and self._outbox is not None:
            thread = self.thread_ts or ""
            return await self._outbox.post(
                self.channel, text, blocks, about=about, delivery=delivery, thread_ts=thread
            )
        return await self._sender.post(
            self.channel, text, blocks, thread_ts=self.thread_ts, about=about, delivery=delivery
        )

    async def upload_output(self, run: RunResult, *, likely: Sequence[str] = ()) -> None:
        await self._sender.upload(
            self.channel,
            thread_ts=self.thread_ts or self.ts,
            content=full_output(run, likely=likely),
            filename=f"triage-{run.playbook}-{run.run_id}.txt",
            title=f"{run.title} — full output",
        )

    async def _edit(self, run: RunResult, *, buttons: bool, likely: Sequence[str] = ()) -> None:
        if self.ts is None:
            return
        await self._sender.update(
            self.channel,
            self.ts,
            run_fallback_text(run),
            run_blocks(run, requested_by=self.requested_by, buttons=buttons, likely=likely),
        )
        self._last_edit = time.monotonic()


class LiveMessages:
    """A new ``LiveMessage`` for each run: the views ``bot.runs.SlackRuns`` shows runs in."""

    def __init__(
        self,
        sender: SlackSender,
        *,
        edit_interval: timedelta = DEFAULTS.live_edit_interval,
        final_retry: timedelta = DEFAULTS.run_final_retry,
        retry_every: timedelta = DEFAULTS.slack_backoff,
        outbox: Outbox | None = None,
    ) -> None:
        self._sender = sender
        self._outbox = outbox
        self._edit_interval = edit_interval  # a live message is edited at most this often
        self._final_retry = final_retry
        self._retry_every = retry_every

    def __call__(self, channel: str, thread_ts: str | None, requested_by: str) -> LiveMessage:
        return LiveMessage(
            self._sender,
            channel,
            thread_ts=thread_ts,
            requested_by=requested_by,
            edit_interval=self._edit_interval,
            final_retry=self._final_retry,
            retry_every=self._retry_every,
            outbox=self._outbox,
        )
