"""Prometheus metrics for ``GET /metrics``: one registry instance per app, never the global one."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
