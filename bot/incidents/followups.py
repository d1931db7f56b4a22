"""What follows an incident's root message, once the key's lock is released: the routed
playbook's run in the thread, and a chart of the alarm's metric. Once the run has finished, the
first line of what it points at (``bot.correlate``: "Likely: …") is kept with the incident and
shown on the root, in every later redraw too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from bot.alarms.model import Alarm
from bot.alarms.routing import route
from bot.aws import AwsClients
from bot.config import Settings
from bot.errors import BotError
from bot.incidents import messages as msg
from bot.incidents.changes import Locks, save_likely
from bot.incidents.chart import alarm_chart_png, chart_filename, fetch_alarm_metric
from bot.incidents.threads import Links, Threads
from bot.incidents.timeline_store import chart_posted
from bot.metrics import Metrics
from bot.outbound.sender import SlackSender
from bot.playbooks.catalog import Catalog
from bot.playbooks.params import resolve_params
from bot.render.mrkdwn import file_title
from bot.run_journal import RunJournal
from bot.runs import RunRequest, SlackRuns, likely_of
from bot.store.base import Store

log = logging.getLogger(__name__)

FollowUp = Callable[[], Awaitable[None]]
"""Work done after the key's lock is released (the playbook run, the chart)."""


async def run_follow_ups(follow_ups: Sequence[FollowUp], key: str, metrics: Metrics) -> None:
    """Run them together; one failing is logged and counted, not raised (the incident is saved
    by now)."""
    outcomes = await asyncio.gather(*(f() for f in follow_ups), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            log.error("after opening %s", key, exc_info=outcome)
            metrics.errors.labels("incident").inc()


class FollowUps:
    """Runs an alarm's playbook where Slack shows it, and posts the alarm's chart."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        runs: SlackRuns,
        aws: AwsClients,
        sender: SlackSender,
        store: Store,
        threads: Threads,
        lock: Locks,
        metrics: Metrics,
        clock: Callable[[], datetime],
        links: Links = lambda _: (),
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._runs = runs
        self._aws = aws
        self._sender = sender
        self._store = store
        self._threads = threads
        self._lock = lock  # the incidents' lock per key: the root is redrawn in order
        self._metrics = metrics
        self._clock = clock
        self._links = links  # the runbook and dashboard buttons on the run's message

    def after_root(
        self, alarm: Alarm, channel: str, ts: str, *, journal: RunJournal | None, pending: str
    ) -> list[FollowUp]:
        """What follows the root ``ts``: the playbook's run in its thread (journaled as
        ``pending`` from before the root was posted) and the chart."""

        async def run() -> None:
            try:
                await self.run_playbook(
                    alarm, channel, ts, user="alarm", source="alarm", pending=pending
                )
            finally:
                if journal is not None:
                    await journal.remove(pending)  # replaced by the run, if it started

        async def chart() -> None:
            await self.post_chart(alarm, channel, ts)

        return [run, chart]

    async def run_playbook(
        self,
        alarm: Alarm,
        channel: str,
        thread_ts: str | None,
        *,
        user: str,
        source: str,
        pending: str = "",
    ) -> None:
        """Run the playbook the routes give the alarm; a playbook that cannot run says why in
        the thread. A run in the incident's own thread puts its first suspect line on the
        root."""
        decision = route(alarm, self._settings.routes, self._settings.slack.default_channel)
        try:
            playbook = self._catalog.get(decision.playbook)
            params = resolve_params(
                playbook, {}, {"alarm": alarm.template_context(), "now": self._clock()}
            )
        except BotError as exc:
            log.warning("playbook %s for %s cannot run: %s", decision.playbook, alarm.name, exc)
            failed = msg.playbook_failed(exc.user_message)
            await self._threads.post(channel, failed, thread_ts)
            return
        result = await self._runs.run(
            RunRequest(
                playbook=playbook,
                params=params,
                raw_params={"alarm": alarm.name, "state": alarm.state},
                channel=channel,
                user=user,
                source=source,
                thread_ts=thread_ts,
                alarm=alarm,
                pending=pending,
                links=self._links(alarm),
            )
        )
        likely = likely_of(result, alarm)
        if likely and thread_ts:
            await self._show_on_root(alarm, channel, thread_ts, likely[0])

    async def _show_on_root(self, alarm: Alarm, channel: str, root_ts: str, line: str) -> None:
        """Keep ``line`` with the incident whose root is ``root_ts`` and redraw that root; not
        for a storm's thread, nor once a later incident of the key has its own root."""
        async with self._lock(alarm.incident_key):  # after any state change being applied
            incident = await self._store.incident_get(alarm.incident_key)
            if incident is None or incident.channel != channel or incident.root_ts != root_ts:
                return
            await save_likely(self._store, incident, line)
            await self._threads.edit_root(incident)

    async def post_chart(self, alarm: Alarm, channel: str, thread_ts: str) -> None:
        """The alarm's metric over the last hours, in the thread; none when AWS has none."""
        try:
            points = await fetch_alarm_metric(self._aws, alarm, self._clock())
        except Exception as exc:  # AWS said no: the thread does without a chart
            log.warning("no chart for %s: %s", alarm.name, exc)
            return
        if points is None:
            log.info("no chart for %s: no single metric or no datapoints", alarm.name)
            return
        try:
            loop = asyncio.get_running_loop()
            png = await loop.run_in_executor(None, alarm_chart_png, alarm, points)
        except Exception:
            log.exception("drawing the chart of %s failed", alarm.name)
            self._metrics.errors.labels("chart").inc()
            return
        sent = await self._sender.upload(
            channel,
            thread_ts=thread_ts,
            content=png,
            filename=chart_filename(alarm),
            title=file_title(f"{alarm.name}: last 3 hours"),
        )
        if sent.ok:
            await chart_posted(
                self._store, alarm.incident_key, thread_ts, chart_filename(alarm), self._clock()
            )
