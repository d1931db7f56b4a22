"""Prometheus metrics for ``GET /metrics``: one registry instance per app, never the global one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


@dataclass
class Metrics:
    """The bot's counters and histograms."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.alarms_received = Counter(
            "triagebot_alarms_received",
            "Alarm messages received",
            ["source", "outcome"],
            registry=r,
        )
        self.runs = Counter(
            "triagebot_runs", "Playbook runs finished", ["playbook", "outcome"], registry=r
        )
        self.step_seconds = Histogram(
            "triagebot_step_duration_seconds",
            "Step duration",
            ["step", "status"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=r,
        )
        self.slack_calls = Counter(
            "triagebot_slack_calls", "Slack Web API calls", ["method", "outcome"], registry=r
        )
        self.errors = Counter("triagebot_errors", "Errors by kind", ["kind"], registry=r)
        self.ack_seconds = Histogram(
            "triagebot_slack_ack_seconds",
            "Time to acknowledge a Slack request",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3),
            registry=r,
        )

        # The operator view (bot.backlog), read every backlog_interval; NaN when unreadable.
        self.replica_info = Gauge(
            "triagebot_replica",
            "This replica, as it names itself in the store",
            ["replica"],
            registry=r,
        )
        self.store_up = Gauge("triagebot_store_up", "1 when the store took a write", registry=r)
        self.store_latency = Gauge(
            "triagebot_store_latency_seconds", "How long the store's health write took", registry=r
        )
        self.queue_messages = Gauge(
            "triagebot_queue_messages",
            "Messages in the alarm queue: waiting, or received and not yet deleted",
            ["state"],
            registry=r,
        )
        self.queue_oldest_age = Gauge(
            "triagebot_queue_oldest_message_age_seconds",
            "CloudWatch's ApproximateAgeOfOldestMessage for the alarm queue (0 when empty)",
            registry=r,
        )
        self.queue_receive_lag = Gauge(
            "triagebot_queue_receive_lag_seconds",
            "How old the oldest message of this replica's last receive was when it came",
            registry=r,
        )
        self.inbox_backlog = Gauge(
            "triagebot_inbox_backlog",
            "Alarm messages recorded, not yet handled",
            ["status"],
            registry=r,
        )
        self.inbox_claims_here = Gauge(
            "triagebot_inbox_claims_held", "Alarm messages this replica holds", registry=r
        )
        self.inbox_oldest_age = Gauge(
            "triagebot_inbox_oldest_age_seconds",
            "How long the oldest unfinished alarm message has waited",
            registry=r,
        )
        self.outbox_pending = Gauge(
            "triagebot_outbox_pending", "Slack posts kept until Slack takes them", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "triagebot_outbox_oldest_age_seconds",
            "How long the oldest post Slack has not taken yet has waited",
            registry=r,
        )
        self.heartbeat_age = Gauge(
            "triagebot_heartbeat_age_seconds",
            "Since the store last took this replica's heartbeat",
            registry=r,
        )

    def watch_leases(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """``triagebot_leases_held{kind}``: read from ``counts`` at each scrape."""
        self.registry.register(_LeasesHeld(counts))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LeasesHeld(Collector):
    """The leases this replica holds now, by kind (``bot.leases.HeldLeases.counts``)."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "triagebot_leases_held", "Store leases and claims this replica holds", labels=["kind"]
        )
        for kind, count in self._counts().items():
            gauge.add_metric([kind], count)
        yield gauge
