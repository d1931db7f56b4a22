"""A run's message in Slack, kept up to date: posted at once, edited as steps finish.

Edits are paced to one per edit interval per message (a second; ``Timings.live_edit_interval``),
changes in between coalesced into the next edit; the final version carries the buttons, and
the full output goes into a file in the thread when it does not fit. Slack failing never
fails the run: it is logged and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import Metrics
from bot.outbound.client import ChannelPacer
from bot.render.blocks import full_output, needs_file, run_blocks, run_fallback_text
from bot.results import RunResult
from bot.timings import DEFAULTS

log = logging.getLogger(__name__)


class LiveMessage:
    """One run's message in ``channel`` (in ``thread_ts``'s thread when given)."""

    def __init__(
        self,
        client: AsyncWebClient,
        pacer: ChannelPacer,
        metrics: Metrics,
        channel: str,
        *,
        thread_ts: str | None = None,
        requested_by: str = "",
        edit_interval: timedelta = DEFAULTS.live_edit_interval,
    ) -> None:
        self._client = client
        self._pacer = pacer
        self._metrics = metrics
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
        args: dict[str, Any] = {"thread_ts": self.thread_ts} if self.thread_ts else {}
        response = await self._call(
            "chat.postMessage",
            channel=self.channel,
            text=run_fallback_text(run),
            blocks=run_blocks(run, requested_by=self.requested_by, buttons=False),
            unfurl_links=False,
            **args,
        )
        if response is not None:
            self.ts = str(response["ts"])
            self._last_edit = time.monotonic()
        return self.ts

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

    async def finish(self, run: RunResult) -> None:
        """The final version, with buttons; the full output as a file when it did not fit."""
        self._finished = True
        async with self._lock:
            await self._edit(run, buttons=True)
        if needs_file(run):
            await self.upload_output(run)

    async def upload_output(self, run: RunResult) -> None:
        thread = self.thread_ts or self.ts
        await self._call(
            "files.upload",
            channel=self.channel,
            thread_ts=thread,
            content=full_output(run),
            filename=f"triage-{run.playbook}-{run.run_id}.txt",
            title=f"{run.title} — full output",
        )

    async def _edit(self, run: RunResult, *, buttons: bool) -> None:
        if self.ts is None:
            return
        await self._call(
            "chat.update",
            channel=self.channel,
            ts=self.ts,
            text=run_fallback_text(run),
            blocks=run_blocks(run, requested_by=self.requested_by, buttons=buttons),
        )
        self._last_edit = time.monotonic()

    async def _call(self, method: str, **kwargs: Any) -> Any:
        if method == "chat.postMessage":  # Slack's 1-per-second-per-channel limit is for posts
            await self._pacer.wait(self.channel)
        try:
            if method == "files.upload":
                response = await self._client.files_upload_v2(**kwargs)
            else:
                response = await self._client.api_call(method, json=kwargs)
        except (TimeoutError, SlackApiError, OSError, aiohttp.ClientError) as exc:
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            log.error("Slack %s failed for channel %s: %s", method, self.channel, reason)
            self._metrics.slack_calls.labels(method, "error").inc()
            return None
        self._metrics.slack_calls.labels(method, "ok").inc()
        return response
