"""The composition root: ``build_app(settings)`` wires every part explicitly, once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from bot.access import AccessPolicy
from bot.alarms.dispatch import AlarmDispatch
from bot.alarms.ingest import AlarmInbox, default_owner
from bot.alarms.lookup import lookup_alarm
from bot.alarms.model import Alarm
from bot.aws import AwsClients, SessionFactory
from bot.backlog import BacklogMonitor, QueueReader
from bot.config import Settings
from bot.errors import ConfigError
from bot.executor import Executor
from bot.health import HealthMonitor, slack_auth
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
from bot.store import open_store
from bot.store.retention import Prunable, Pruner, Retention
from bot.tasks import TaskTracker
from bot.timings import Timings
from bot.triage_app import TriageApp

log = logging.getLogger(__name__)


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
        store_retry=timings.store_retry,
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
        loaded,
        aws,
        store,
        sender,
        outbox,
        clock=clock,
        timings=timings,
        heartbeat=heartbeat,
        held=held,
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
