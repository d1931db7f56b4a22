"""The composition root: ``build_app(settings)`` wires every part explicitly, once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import AccessPolicy
from bot.alarms.dispatch import AlarmDispatch
from bot.alarms.ingest import AlarmInbox, default_owner
from bot.alarms.lookup import lookup_alarm
from bot.alarms.model import Alarm
from bot.aws import AwsClients, SessionFactory
from bot.backlog import BacklogMonitor, QueueReader
from bot.config import Settings
from bot.digest.service import DigestService
from bot.errors import ConfigError
from bot.executor import Executor
from bot.health import HealthMonitor, slack_auth
from bot.incidents.handover_post import HandoverService
from bot.incidents.lifecycle import Incidents
from bot.incidents.paging import Paging
from bot.ingress.sns import CertificateStore, Fetch, SnsVerifier
from bot.ingress.sns_endpoint import ConfirmFetch, SnsEndpoint, fetch_confirmation
from bot.ingress.sqs import SqsPoller
from bot.leases import HeldLeases
from bot.loading import load
from bot.metrics import Metrics
from bot.outbound.client import make_web_client
from bot.outbound.live import LiveMessages
from bot.outbound.outbox import Outbox
from bot.outbound.pacing import ChannelPacer, workspace_edits
from bot.outbound.sender import DEFAULT_EDIT_BURST, SlackSender
from bot.playbooks.catalog import Catalog
from bot.rate_limits import FleetRateLimits
from bot.replicas import Heartbeat
from bot.run_journal import RunJournal
from bot.run_recovery import RunRecovery
from bot.runs import SlackRuns
from bot.scheduled import build_scheduled
from bot.server import build_web_app
from bot.slack.bolt_app import build_bolt_app
from bot.slack.deps import SlackDeps
from bot.slack.gate import SlackRequestGate
from bot.slack.socket_mode import SocketLink
from bot.steps import default_registry
from bot.store import Store, open_store
from bot.store.base import StoreUnavailable
from bot.store.retention import Prunable, Pruner, Retention
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


def build_app(
    settings: Settings,
    *,
    session_factory: SessionFactory | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    socket_mode: bool = False,
    sns_confirm: ConfirmFetch = fetch_confirmation,
    sns_cert_fetch: Fetch | None = None,
    timings: Timings | None = None,
) -> TriageApp:
    """Wire the bot. Raises ConfigError for missing secrets and LoadFailed (a ConfigError) for
    anything ``triagebot check`` rejects — before anything listens. ``sns_confirm`` and
    ``sns_cert_fetch`` stand in for the GETs to SNS (confirming a subscription, fetching a
    signing certificate) in tests. ``timings`` replaces every timing (tests pass small ones);
    without it, production's, with ``[store] lease``."""
    secret = settings.secrets.slack_signing_secret
    if settings.secrets.slack_bot_token is None or (secret is None and not socket_mode):
        raise ConfigError(
            "serve needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in the environment "
            "(SLACK_APP_TOKEN too for Socket Mode)."
        )
    registry = default_registry()
    loaded = load(settings, registry, serving=True)  # LoadFailed: what `check` says, and more
    settings, catalog = loaded.settings, loaded.catalog
    timings = timings if timings is not None else Timings(lease=settings.store.lease)
    aws = AwsClients(
        settings.aws,
        endpoint_url=settings.aws_endpoint_url,
        session_factory=session_factory,
        max_attempts=timings.aws_max_attempts,
    )
    store = open_store(settings)
    # A store replicas share: so are AWS's per-account limits and Slack's for the app.
    shared = FleetRateLimits(store).acquire if settings.sqlite_path() is None else None
    aws.shared_limit = shared
    metrics = Metrics()
    client = make_web_client(settings, timeout=timings.slack_timeout, backoff=timings.slack_backoff)
    tasks = TaskTracker()
    executor = Executor(registry, aws, clock=clock)
    sender = SlackSender(  # every Slack Web API call goes through it
        client,
        metrics,
        posts=ChannelPacer(rate=timings.slack_posts_per_second, shared=shared),
        edits=(
            workspace_edits(shared, timings.slack_edits_per_minute, DEFAULT_EDIT_BURST)
            if shared is not None
            else None
        ),
        edits_per_minute=timings.slack_edits_per_minute,
    )
    outbox = Outbox(store, sender, metrics, default_owner(), clock, timings)  # what must arrive
    views = LiveMessages(
        sender,
        edit_interval=timings.live_edit_interval,
        final_retry=timings.run_final_retry,
        retry_every=timings.slack_backoff,
        outbox=outbox,
    )
    owner = default_owner()  # this replica, in its heartbeat and in the runs it journals
    held = HeldLeases()  # the store leases and claims it holds now: /healthz, /metrics
    journal = RunJournal(store, owner)
    runs = SlackRuns(executor, store, views, metrics, clock=clock, journal=journal)
    paging = Paging(
        settings, store, sender, metrics, held, timings=timings, clock=clock, outbox=outbox
    )
    incidents = Incidents(
        paging=paging,
        settings=settings,
        catalog=catalog,
        store=store,
        sender=sender,
        runs=runs,
        metrics=metrics,
        aws=aws,
        clock=clock,
        timings=timings,
        journal=journal,
        held=held,
        outbox=outbox,
    )
    # A replica that dies holding alarm messages: the others see its heartbeat a lease old and
    # take them over at their next sweep, which comes at least every half lease.
    heartbeat = Heartbeat(store, owner, timings.lease, clock)
    recovery = RunRecovery(  # runs of a process that is gone: finished, alarms' run again
        journal=journal,
        store=store,
        heartbeat=heartbeat,
        catalog=catalog,
        views=views,
        rerun=incidents.rerun,
        lease=timings.lease,
        clock=clock,
        held=held,
    )
    inbox = AlarmInbox(
        store,
        AlarmDispatch(incidents, clock),
        tasks,
        metrics,
        heartbeat.owner,
        clock,
        lease=timings.inbox_lease,
        sweep_seconds=min(timings.inbox_sweep, timings.lease / 2).total_seconds(),
        holder_gone=heartbeat.is_gone,
        held=held,
    )
    certs = CertificateStore(cert_dir=settings.resolve(settings.sns.cert_dir), fetch=sns_cert_fetch)
    verifier = SnsVerifier(
        certs, settings.sns.topic_arns, max_age=settings.sns.max_age, clock=clock
    )
    sns = SnsEndpoint(verifier=verifier, inbox=inbox, metrics=metrics, confirm=sns_confirm)
    sqs_settings = settings.sqs if settings.sqs is not None and settings.sqs.queue_url else None
    sqs = (
        SqsPoller(
            aws,
            sqs_settings.queue_url,
            inbox,
            verifier,
            metrics,
            raw_delivery=sqs_settings.raw_delivery,
        )
        if sqs_settings is not None
        else None
    )

    scheduled = build_scheduled(
        loaded, aws, store, sender, clock=clock, timings=timings, heartbeat=heartbeat, held=held
    )

    async def find_alarm(name: str) -> Alarm | None:
        return await lookup_alarm(aws, name)

    deps = SlackDeps(
        settings=settings,
        catalog=catalog,
        access=AccessPolicy(settings.access, sender),
        runs=runs,
        tasks=tasks,
        store=store,
        sender=sender,
        metrics=metrics,
        lookup_alarm=find_alarm,
        post_digest=scheduled.digest.post if scheduled.digest is not None else None,
        post_handover=scheduled.handover_now,
        clock=clock,
    )
    bolt = build_bolt_app(
        deps,
        signing_secret=secret.get_secret_value() if secret else "",
        incident_actions=incidents.on_button,
        incident_notes=incidents.on_view,
    )
    monitor = HealthMonitor(
        store,
        lambda: slack_auth(client),
        cache=timings.health_cache,
        auth_interval=timings.slack_auth_interval,
    )
    backlog = BacklogMonitor(
        store,
        heartbeat,
        metrics,
        held,
        queue=QueueReader(aws, sqs) if sqs is not None else None,
        store_check=monitor.store,
        interval=timings.backlog_interval,
        clock=clock,
    )
    app = TriageApp(
        settings=settings,
        catalog=catalog,
        aws=aws,
        store=store,
        metrics=metrics,
        client=client,
        tasks=tasks,
        deps=deps,
        bolt=bolt,
        web=web.Application(),
        digest=scheduled.digest,
        handover=scheduled.handover,
        incidents=incidents,
        paging=paging,
        inbox=inbox,
        sqs=sqs,
        timings=timings,
        heartbeat=heartbeat,
        recovery=recovery,
        monitor=monitor,
        backlog=backlog,
    )
    if isinstance(store, Prunable):
        retention = Retention.from_settings(settings)
        app.pruner = Pruner(store, retention, timings.prune_interval, clock)
    app_token = settings.secrets.slack_app_token
    if socket_mode and app_token is not None:
        app.socket = SocketLink(
            bolt,
            app_token.get_secret_value(),
            ping_interval=settings.slack.socket_ping_interval.total_seconds(),
        )
    app.web = build_web_app(
        bolt=None if socket_mode else bolt,
        gate=SlackRequestGate(secret.get_secret_value()) if secret else None,
        metrics=metrics,
        health=app.health,
        sns_handler=sns,
        body_timeout=settings.server.body_timeout.total_seconds(),
    )

    async def on_startup(_: web.Application) -> None:
        await app.start()

    async def on_shutdown(_: web.Application) -> None:
        await app.stop()

    app.web.on_startup.append(on_startup)
    app.web.on_shutdown.append(on_shutdown)
    return app
