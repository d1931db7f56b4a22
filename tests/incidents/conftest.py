"""An ``Incidents`` wired to real parts: the fake Slack Web API over HTTP, moto, a SQLite file,
a real catalog, executor and ``SlackRuns``; and the whole app, for tests through the server."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients, SessionFactory
from bot.config import (
    AccessSettings,
    AlarmSettings,
    AwsSettings,
    Route,
    Settings,
    SlackSettings,
)
from bot.demo.slack_api import FakeSlackApi, SlackMessage
from bot.demo.slack_model import blocks_text
from bot.errors import RetryLater
from bot.executor import Executor
from bot.incidents.lifecycle import Incidents
from bot.metrics import Metrics
from bot.outbound.live import LiveMessages
from bot.outbound.outbox import Outbox
from bot.outbound.pacing import ChannelPacer
from bot.outbound.sender import SlackSender
from bot.playbooks.catalog import load_catalog
from bot.runs import SlackRuns
from bot.steps import default_registry
from bot.store.base import Store
from bot.store.sqlite import SqliteStore
from tests.alarms.sns_harness import SnsHarness, start_harness

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PLAYBOOKS = FIXTURES / "playbooks" / "incidents"
CHANNEL = "C0ALARMS"
ACCOUNT = "123456789012"
REGION = "us-east-1"
LB = "app/prod-web/50dc6c495c0c9188"


class Clock:
    """A clock tests move by hand; starts at the real time so moto's metric window fits."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class World:
    slack: FakeSlackApi
    store: SqliteStore
    incidents: Incidents
    clock: Clock
    metrics: Metrics
    session: boto3.Session
    settings: Settings
    parts: dict[str, Any] = field(default_factory=dict)  # the constructor's other arguments

    def replica(self) -> Incidents:
        """Another Incidents on the same store and Slack, as a second process would be."""
        return incidents_of(self.settings, self.store, self.metrics, self.clock, self.parts)

    def roots(self, channel: str = CHANNEL) -> list[SlackMessage]:
        return self.slack.messages(channel)

    def thread(self, root: SlackMessage) -> list[SlackMessage]:
        return self.slack.thread(root.channel, root.ts)

    def errors(self, kind: str) -> float:
        value = self.metrics.registry.get_sample_value("triagebot_errors_total", {"kind": kind})
        return value or 0.0


def shown(message: SlackMessage) -> str:
    """What a person reads in a message: its blocks as text, or its text."""
    return "\n".join(blocks_text(message.blocks)) if message.blocks else message.text


def make_alarm(
    when: datetime,
    state: str = "ALARM",
    *,
    name: str = "prod-web-5xx",
    reason: str = "Threshold Crossed: 1 datapoint [42.0] was greater than the threshold (10.0).",
    **fields: Any,
) -> Alarm:
    """A CloudWatch alarm on an ALB's 5xx count, as parse would build it."""
    base: dict[str, Any] = {
        "source": AlarmSource.ALARM,
        "name": name,
        "state": state,
        "reason": reason,
        "account": ACCOUNT,
        "region": REGION,
        "arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        "changed_at": when,
        "namespace": "AWS/ApplicationELB",
        "metric_name": "HTTPCode_Target_5XX_Count",
        "statistic": "Sum",
        "period_s": 60,
        "threshold": 10.0,
        "comparison": "GreaterThanThreshold",
        "metric_summary": "AWS/ApplicationELB HTTPCode_Target_5XX_Count Sum > 10",
        "dimensions": {"LoadBalancer": LB},
        "message_id": f"{name}-{state}-{when.isoformat()}",
    }
    base.update(fields)
    return Alarm(**base)


def button_body(
    action_id: str, value: str, *, user: str = "U0ONCALL", channel: str = CHANNEL
) -> dict[str, Any]:
    """A block_actions payload shaped like tests/fixtures/slack/block-actions-button.payload.json."""
    payload = json.loads((FIXTURES / "slack" / "block-actions-button.payload.json").read_text())
    body: dict[str, Any] = copy.deepcopy(payload)
    body["user"]["id"] = user
    body["channel"]["id"] = channel
    body["container"]["channel_id"] = channel
    body["actions"][0].update({"action_id": action_id, "value": value})
    return body


Build = Callable[..., Awaitable[World]]


@pytest.fixture
async def app_harness(tmp_path: Path, moto_url: str) -> AsyncIterator[SnsHarness]:
    """The whole app on a loopback port (``tests.alarms.sns_harness``), default config."""
    async for harness in start_harness(tmp_path, moto_url):
        yield harness


@pytest.fixture
async def build(tmp_path: Path, session: boto3.Session) -> AsyncIterator[Build]:
    """Build a World; keyword arguments: storm_threshold, allowed_channels, the workspace's
    budget of edits a minute (unlimited, near enough, unless a test says), the routes, and the
    AWS sessions (the test's moto session unless a test brings its own, e.g. the demo's)."""
    opened: list[tuple[FakeSlackApi, SqliteStore, AwsClients]] = []

    async def make(
        *,
        storm_threshold: int = 5,
        allowed_channels: tuple[str, ...] = (),
        edits_per_minute: float = 60_000.0,
        edit_burst: int = 1000,
        routes: tuple[Route, ...] = (),
        aws_sessions: SessionFactory | None = None,
    ) -> World:
        slack = FakeSlackApi()
        await slack.start()
        store = SqliteStore(tmp_path / f"state-{len(opened)}.db")
        await store.start()
        aws = AwsClients(AwsSettings(), session_factory=aws_sessions or (lambda: session))
        opened.append((slack, store, aws))
        settings = Settings(
            slack=SlackSettings(default_channel=CHANNEL),
            alarms=AlarmSettings(storm_threshold=storm_threshold),
            access=AccessSettings(allowed_channels=allowed_channels),
            routes=routes,
        )
        clock = Clock()
        metrics = Metrics()
        client = AsyncWebClient(token="xoxb-test", base_url=slack.base_url)
        sender = SlackSender(
            client,
            metrics,
            posts=ChannelPacer(rate=1000.0, burst=1000),
            edits_per_minute=edits_per_minute,
            edit_burst=edit_burst,
        )
        registry = default_registry()
        runs = SlackRuns(
            Executor(registry, aws, clock=clock),
            store,
            LiveMessages(sender),
            metrics,
            clock=clock,
        )
        parts = {
            "catalog": load_catalog([PLAYBOOKS], registry),
            "sender": sender,
            "runs": runs,
            "aws": aws,
        }
        incidents = incidents_of(settings, store, metrics, clock, parts)
        return World(slack, store, incidents, clock, metrics, session, settings, parts)

    yield make
    for slack, store, aws in opened:
        await store.close()
        aws.close()
        await slack.stop()


def incidents_of(
    settings: Settings, store: Store, metrics: Metrics, clock: Clock, parts: dict[str, Any]
) -> Incidents:
    """One process's ``Incidents``, with an outbox of its own (as ``bot.app`` builds it)."""
    outbox = Outbox(store, parts["sender"], metrics, f"outbox-{uuid.uuid4().hex[:8]}", clock)
    return Incidents(
        settings=settings, store=store, metrics=metrics, clock=clock, outbox=outbox, **parts
    )


async def handled(incidents: Incidents, alarm: Alarm) -> None:
    """``handle`` as the inbox calls it: ``RetryLater`` (another replica is still posting the
    storm message, slow on a loaded machine) means the message is handled again soon."""
    for _ in range(100):
        try:
            await incidents.handle(alarm)
            return
        except RetryLater:
            await asyncio.sleep(0.1)
    raise AssertionError(f"{alarm.name} was never handled")
