"""The running app: every part ``build_app`` wired, started and stopped in order, and what
``/healthz`` reports about them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.alarms.ingest import AlarmInbox
from bot.aws import AwsClients
from bot.backlog import BacklogMonitor
from bot.config import Settings
from bot.digest.service import DigestService
from bot.errors import ConfigError
from bot.health import HealthMonitor
from bot.incidents.handover_post import HandoverService
from bot.incidents.lifecycle import Incidents
from bot.incidents.paging import Paging
from bot.ingress.sqs import SqsPoller
from bot.metrics import Metrics
from bot.playbooks.catalog import Catalog
from bot.replicas import Heartbeat
from bot.run_recovery import RunRecovery
from bot.slack.deps import SlackDeps
from bot.slack.socket_mode import SocketLink
from bot.store import Store
from bot.store.base import StoreUnavailable
from bot.store.retention import Pruner
from bot.tasks import TaskTracker
from bot.timings import DEFAULTS, Timings

log = logging.getLogger(__name__)


@dataclass
class TriageApp:
    """Everything ``serve`` runs, built but not yet started."""

    settings: Settings
    catalog: Catalog
    aws: AwsClients
    store: Store
    metrics: Metrics
    client: AsyncWebClient
    tasks: TaskTracker
    deps: SlackDeps
    bolt: AsyncApp
    web: web.Application
    digest: DigestService | None = None  # the daily cost digest, when [digest] is set
    handover: HandoverService | None = None  # the shift hand-over, when [handover] is set
    incidents: Incidents | None = None
    inbox: AlarmInbox | None = None  # alarms from POST /sns and SQS, recorded before handled
    sqs: SqsPoller | None = None  # when [sqs] queue_url is set
    socket: SocketLink | None = None  # Slack Socket Mode, when SLACK_APP_TOKEN is set
    timings: Timings = DEFAULTS  # leases, retries, the drain on stop
    monitor: HealthMonitor | None = None  # the store and Slack checks of /healthz
    heartbeat: Heartbeat | None = None  # this replica's sign of life in the store
    backlog: BacklogMonitor | None = None  # the queue, the inbox backlog: /healthz, /metrics
    pruner: Pruner | None = None  # [store] retention, on SQLite (DynamoDB's TTL needs none)
    recovery: RunRecovery | None = None  # runs interrupted by a crash or restart: finished
    paging: Paging | None = None  # routes with `page`: PagerDuty after `page_after`

    async def start(self) -> None:
        await self.store.start()
        if self.monitor is not None:
            try:
                await self.monitor.require_writable_store()
            except (StoreUnavailable, TimeoutError) as exc:
                problem = (
                    exc.user_message
                    if isinstance(exc, StoreUnavailable)
                    else "it did not answer a write for 30 s"
                )
                raise ConfigError(f"will not start on a store it cannot write: {problem}") from exc
            self.monitor.start()
        if self.digest is not None:
            await self.digest.start()
        if self.handover is not None:
            await self.handover.start()
        if self.heartbeat is not None:
            await self.heartbeat.beat()  # alive in the store before claiming anything
            self.heartbeat.start()
        if self.inbox is not None:
            await self.inbox.recover()  # alarms recorded but not finished before a restart
            self.inbox.start()
        if self.incidents is not None:
            self.incidents.outbox.start()  # posts Slack did not take, before a restart too
        if self.recovery is not None:
            self.recovery.start()  # runs a gone process left running, now and every half lease
        if self.sqs is not None:
            self.sqs.start()
        if self.backlog is not None:
            self.backlog.start()
        if self.pruner is not None:
            self.pruner.start()
        if self.paging is not None:
            self.paging.start()

    async def stop(self) -> None:
        if self.paging is not None:
            await self.paging.stop()
        if self.recovery is not None:
            await self.recovery.stop()
        if self.pruner is not None:
            await self.pruner.stop()
        if self.backlog is not None:
            await self.backlog.stop()
        if self.monitor is not None:
            await self.monitor.stop()
        if self.digest is not None:
            await self.digest.stop()
        if self.handover is not None:
            await self.handover.stop()
        if self.sqs is not None:
            await self.sqs.stop()
        if self.inbox is not None:
            await self.inbox.stop()
        if self.incidents is not None:
            await self.incidents.outbox.stop()  # what is left is posted after the restart
        remaining = await self.tasks.drain(self.timings.drain.total_seconds())
        if remaining:
            log.warning(
                "stopping with %d tasks still running; alarms resume from the inbox", remaining
            )
        if self.heartbeat is not None:
            await self.heartbeat.stop()  # what is left may be taken over at once
        await self.store.close()
        self.aws.close()

    async def health(self) -> dict[str, Any]:
        """``GET /healthz``: ``problems`` names each thing that keeps the bot from its job."""
        assert self.monitor is not None, "build_app sets the monitor"
        store = await self.monitor.store()
        slack = self.monitor.slack
        schedulers = [s for s in (self.digest, self.handover) if s is not None]
        scheduler_ok = all(s.running for s in schedulers)
        socket = await self.socket.state() if self.socket is not None else "off"
        problems = [f"store: {store.problem}"] if store.problem else []
        if slack.state == "refused":
            problems.append(f"slack: auth.test answers {slack.error}: the bot token is refused")
        if socket == "disconnected":
            problems.append("socket: Slack Socket Mode is not connected")
        if not scheduler_ok:
            problems.append("scheduler: the digest or hand-over scheduler is not running")
        if not self.tasks.accepting:
            problems.append("accepting: stopping, no new work is taken")
        return {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "store": "ok" if store.ok else "unavailable",
            "store_latency_ms": store.latency_ms,
            "inbox_failed": store.inbox_failed,
            "slack": slack.state if not slack.error else f"{slack.state}: {slack.error}",
            "socket": socket,
            "scheduler": "running" if schedulers and scheduler_ok else "off",
            "accepting": self.tasks.accepting,
            "runs_in_flight": self.tasks.in_flight,
            "playbooks": len(self.catalog),
            **(self.backlog.report() if self.backlog is not None else {}),
        }
