"""How far behind this replica is: the alarm queue, the inbox, and what it holds.

Read every ``backlog_interval`` (a minute) and kept, so ``/healthz`` and ``/metrics`` answer from
the last reading and a scrape never costs an AWS call:

- The queue (``[sqs] queue_url``): ``sqs:GetQueueAttributes`` for the messages waiting
  (``ApproximateNumberOfMessages``) and received but not yet deleted
  (``ApproximateNumberOfMessagesNotVisible``); the age of the oldest message is CloudWatch's
  ``AWS/SQS ApproximateAgeOfOldestMessage`` (``cloudwatch:GetMetricData``, the last minute's
  Maximum). SQS publishes that metric once a minute, a few minutes late, so beside it stands
  the poller's own ``receive_lag_s``: how old the oldest message of its last receive was when
  it came (its ``SentTimestamp``), which is current but sees only what was received. An empty
  queue has no oldest message: its age is 0, whatever CloudWatch still says.
- The inbox: messages recorded but not yet handled (``pending``) and claimed by some replica
  (``claimed``), how many of those this replica holds, and how long the oldest has waited.
- This replica: its heartbeat lease (``bot.replicas``) and when the store last took a renewal,
  and the leases and claims it holds (``bot.leases.HeldLeases``): these are no reading but
  what it holds at the moment ``/healthz`` or ``/metrics`` asks.

A reading that fails keeps what it could read and says what failed; it is no ``problem`` of
``/healthz`` (no restart empties a queue), while the alarms on these numbers are CloudWatch's
own (``docs/scaling.md``): they keep working when every replica is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.aws import AwsClients
from bot.aws_errors import describe_client_error
from bot.errors import StepError
from bot.health import StoreCheck
from bot.ingress.sqs import SqsPoller, queue_region
from bot.leases import HeldLeases
from bot.metric_data import MetricQuery, get_metric_data
from bot.metrics import Metrics
from bot.replicas import Heartbeat
from bot.store.base import Store
from bot.tasks import BackgroundLoop

log = logging.getLogger(__name__)

_AGE_WINDOW = timedelta(minutes=10)  # SQS metrics come a few minutes late


@dataclass(frozen=True)
class QueueDepth:
    waiting: int | None = None  # ApproximateNumberOfMessages
    in_flight: int | None = None  # ApproximateNumberOfMessagesNotVisible
    oldest_age_s: float | None = None  # ApproximateAgeOfOldestMessage; None: no datapoint yet
    receive_lag_s: float | None = None  # the poller's own view (see the module docstring)
    error: str = ""


@dataclass(frozen=True)
class InboxBacklog:
    pending: int | None = None
    claimed: int | None = None
    claimed_here: int | None = None
    oldest_age_s: float | None = None  # the oldest unfinished message, since recorded
    error: str = ""


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int | None = None  # posts Slack has not taken yet (any replica's)
    oldest_age_s: float | None = None  # the oldest of them, since first recorded
    error: str = ""

    def report(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"pending": self.pending, "oldest_age_s": self.oldest_age_s}
        return shown | ({"error": self.error} if self.error else {})


@dataclass(frozen=True)
class Backlog:
    replica: str
    read_at: datetime | None  # None before the first reading
    queue: QueueDepth | None  # None without [sqs] queue_url
    inbox: InboxBacklog
    heartbeat_age_s: float | None  # since the store last took this replica's heartbeat
    heartbeat_lease_s: float
    outbox: OutboxBacklog = OutboxBacklog()

    def report(self) -> dict[str, Any]:
        """The ``/healthz`` fields."""
        queue: dict[str, Any] | str = "off"
        if self.queue is not None:
            queue = {
                "waiting": self.queue.waiting,
                "in_flight": self.queue.in_flight,
                "oldest_age_s": self.queue.oldest_age_s,
                "receive_lag_s": self.queue.receive_lag_s,
            }
            if self.queue.error:
                queue["error"] = self.queue.error
        inbox: dict[str, Any] = {
            "pending": self.inbox.pending,
            "claimed": self.inbox.claimed,
            "claimed_here": self.inbox.claimed_here,
            "oldest_age_s": self.inbox.oldest_age_s,
        }
        if self.inbox.error:
            inbox["error"] = self.inbox.error
        return {
            "replica": self.replica,
            "backlog_read_at": self.read_at.isoformat() if self.read_at else None,
            "queue": queue,
            "inbox": inbox,
            "outbox": self.outbox.report(),
            "leases": {
                "heartbeat_age_s": self.heartbeat_age_s,
                "heartbeat_lease_s": self.heartbeat_lease_s,
                "inbox_claims": self.inbox.claimed_here,
            },
        }


class QueueReader:
    """The queue's depth and its oldest message's age: two AWS calls."""

    def __init__(self, aws: AwsClients, poller: SqsPoller) -> None:
        self._aws = aws
        self._poller = poller
        self._url = poller.queue_url
        self._target = aws.target(queue_region(self._url, aws.default_region))
        self._name = self._url.rstrip("/").rsplit("/", 1)[-1]

    async def read(self, now: datetime) -> QueueDepth:
        lag = self._poller.receive_lag_seconds
        errors: list[str] = []
        waiting = in_flight = None
        try:
            answer = await self._aws.call(
                "sqs",
                "get_queue_attributes",
                self._target,
                QueueUrl=self._url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )
            attributes = answer.get("Attributes", {})
            waiting = int(attributes.get("ApproximateNumberOfMessages", 0))
            in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
        except (StepError, ClientError, BotoCoreError, OSError) as exc:
            errors.append(_failure(exc, "sqs", "get_queue_attributes"))
        age: float | None = None
        if waiting == 0 and in_flight == 0:
            age = 0.0  # nothing in the queue: nothing is old, whatever the metric still says
        else:
            try:
                age = await self._oldest_age(now)
            except (StepError, ClientError, BotoCoreError, OSError) as exc:
                errors.append(_failure(exc, "cloudwatch", "get_metric_data"))
        return QueueDepth(waiting, in_flight, age, lag, "; ".join(errors))

    async def _oldest_age(self, now: datetime) -> float | None:
        query = MetricQuery(
            key="oldest",
            namespace="AWS/SQS",
            metric="ApproximateAgeOfOldestMessage",
            dimensions={"QueueName": self._name},
            stat="Maximum",
        )
        series = await get_metric_data(
            self._aws, self._target, [query], start=now - _AGE_WINDOW, end=now, period_s=60
        )
        points = series.get("oldest", [])
        return points[-1][1] if points else None


class BacklogMonitor:
    """Reads the backlog every ``interval`` into ``latest`` and the ``/metrics`` gauges."""

    def __init__(
        self,
        store: Store,
        heartbeat: Heartbeat,
        metrics: Metrics,
        held: HeldLeases,
        *,
        queue: QueueReader | None = None,
        store_check: Callable[[], Awaitable[StoreCheck]] | None = None,
        interval: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._heartbeat = heartbeat
        self._metrics = metrics
        self._held = held
        self._queue = queue
        self._store_check = store_check
        self._interval = interval.total_seconds()
        self._clock = clock
        self._loop = BackgroundLoop("backlog")
        self._read = asyncio.Condition()
        self.latest = Backlog(
            heartbeat.owner,
            None,
            QueueDepth() if queue is not None else None,
            InboxBacklog(),
            None,
            heartbeat.lease.total_seconds(),
        )
        metrics.replica_info.labels(heartbeat.owner).set(1)
        metrics.watch_leases(held.counts)

    def start(self) -> None:
        self._loop.start(self._read_forever)

    async def stop(self) -> None:
        await self._loop.stop()

    def report(self) -> dict[str, Any]:
        """The ``/healthz`` fields: the last reading, and the leases held right now."""
        report = self.latest.report()
        report["leases"] |= self._held.report(self._clock())
        return report

    async def next_reading(self) -> Backlog:
        """Wait for the reading after this call and return it (tests, and nothing else)."""
        async with self._read:
            await self._read.wait()
            return self.latest

    async def read_once(self) -> Backlog:
        now = self._clock()
        queue: QueueDepth | None = None
        if self._queue is not None:
            inbox, outbox, queue = await asyncio.gather(
                self._inbox(now), self._outbox(now), self._queue.read(now)
            )
        else:
            inbox, outbox = await asyncio.gather(self._inbox(now), self._outbox(now))
        if self._store_check is not None:
            store = await self._store_check()
            self._metrics.store_up.set(1 if store.ok else 0)
            self._metrics.store_latency.set(store.latency_ms / 1000)
        beat = self._heartbeat.last_beat
        self.latest = Backlog(
            self._heartbeat.owner,
            now,
            queue,
            inbox,
            round((now - beat).total_seconds(), 3) if beat is not None else None,
            self._heartbeat.lease.total_seconds(),
            outbox,
        )
        self._export(self.latest)
        async with self._read:
            self._read.notify_all()
        return self.latest

    async def _inbox(self, now: datetime) -> InboxBacklog:
        try:
            items = await self._store.inbox_unfinished()
        except Exception as exc:
            log.warning("backlog: could not read the inbox: %s", exc)
            return InboxBacklog(error=type(exc).__name__)
        claimed = [item for item in items if item.status == "processing"]
        oldest = min((item.received_at for item in items), default=None)
        return InboxBacklog(
            pending=len(items) - len(claimed),
            claimed=len(claimed),
            claimed_here=sum(1 for item in claimed if item.owner == self._heartbeat.owner),
            oldest_age_s=round(max(0.0, (now - oldest).total_seconds()), 3) if oldest else 0.0,
        )

    async def _outbox(self, now: datetime) -> OutboxBacklog:
        try:
            pending, oldest = await self._store.outbox_backlog()
        except Exception as exc:
            log.warning("backlog: could not read the outbox: %s", exc)
            return OutboxBacklog(error=type(exc).__name__)
        return OutboxBacklog(
            pending=pending,
            oldest_age_s=round(max(0.0, (now - oldest).total_seconds()), 3) if oldest else 0.0,
        )

    def _export(self, backlog: Backlog) -> None:
        m = self._metrics
        if backlog.queue is not None:
            _set(m.queue_messages.labels("waiting"), backlog.queue.waiting)
            _set(m.queue_messages.labels("in_flight"), backlog.queue.in_flight)
            _set(m.queue_oldest_age, backlog.queue.oldest_age_s)
            _set(m.queue_receive_lag, backlog.queue.receive_lag_s)
        _set(m.inbox_backlog.labels("pending"), backlog.inbox.pending)
        _set(m.inbox_backlog.labels("claimed"), backlog.inbox.claimed)
        _set(m.inbox_claims_here, backlog.inbox.claimed_here)
        _set(m.inbox_oldest_age, backlog.inbox.oldest_age_s)
        _set(m.heartbeat_age, backlog.heartbeat_age_s)
        _set(m.outbox_pending, backlog.outbox.pending)
        _set(m.outbox_oldest_age, backlog.outbox.oldest_age_s)

    async def _read_forever(self) -> None:
        while True:
            try:
                await self.read_once()
            except Exception:  # a bug here must not end the readings
                log.exception("backlog: reading failed")
                self._metrics.errors.labels("backlog").inc()
            await asyncio.sleep(self._interval)


def _failure(exc: Exception, service: str, method: str) -> str:
    if isinstance(exc, StepError):  # what AwsClients.call raises: its sentence says it all
        return exc.user_message
    if isinstance(exc, ClientError):
        return describe_client_error(exc, service, method)
    return f"{service}.{method}: {type(exc).__name__}"


def _set(gauge: Any, value: float | None) -> None:
    """A gauge holds the last value read; one that could not be read is NaN, not a stale 0."""
    gauge.set(float("nan") if value is None else value)
