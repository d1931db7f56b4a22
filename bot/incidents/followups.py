"""What follows an incident's root message, once the key's lock is released: the routed
playbook's run in the thread, and a chart of the alarm's metric. Once the run has finished, the
first line of what it points at (``bot.correlate``: "Likely: …") is kept with the incident and
shown on the root, in every later redraw too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
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
from bot.metrics import Metrics
from bot.outbound.sender import SlackSender
from bot.playbooks.catalog import Catalog
from bot.playbooks.params import resolve_params
from bot.render.mrkdwn import file_title
from bot.runs import RunRequest, SlackRuns, likely_of
from bot.store.base import Store

log = logging.getLogger(__name__)


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
            await self._sender.post(channel, failed.text, failed.blocks, thread_ts=thread_ts)
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
        await self._sender.upload(
            channel,
            thread_ts=thread_ts,
            content=png,
            filename=chart_filename(alarm),
            title=file_title(f"{alarm.name}: last 3 hours"),
        )
