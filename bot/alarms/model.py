"""The one shape every alarm takes inside the bot, whatever AWS sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AlarmSource(StrEnum):
    ALARM = "alarm"  # a CloudWatch alarm state change
    HEALTH = "health"  # an AWS Health event
    NOTIFICATION = "notification"  # anything else: posted as a plain message, never dropped


@dataclass(frozen=True)
class Alarm:
    """A parsed alarm. Templates see it as ``alarm`` (``alarm.dimensions.LoadBalancer``)."""

    source: AlarmSource
    name: str  # alarm name; for Health the event type code; for a notification its subject
    state: str = ""  # ALARM | OK | INSUFFICIENT_DATA; Health: open | upcoming | closed
    old_state: str = ""
    reason: str = ""
    account: str = ""
    region: str = ""  # a region code (us-east-2), never a display name
    arn: str = ""
    changed_at: datetime | None = None  # the state-change time AWS reports
    description: str = ""
    namespace: str = ""
    metric_name: str = ""
    statistic: str = ""
    period_s: int | None = None
    threshold: float | None = None
    comparison: str = ""
    metric_summary: str = (
        ""  # "AWS/ApplicationELB HTTPCode_Target_5XX_Count Sum > 10" or the expression
    )
    dimensions: Mapping[str, str] = field(default_factory=dict)
    service: str = ""  # Health: the AWS service (EC2, ELASTICLOADBALANCING, ...)
    text: str = ""  # a plain notification's body
    message_id: str = ""  # SNS MessageId or EventBridge id: the dedupe key

    @property
    def incident_key(self) -> str:
        """Account + region + alarm: one live thread per key."""
        return f"{self.account}/{self.region}/{self.name}"

    def template_context(self) -> dict[str, Any]:
        """What Jinja templates see as ``alarm``."""
        return {
            "source": str(self.source),
            "name": self.name,
            "state": self.state,
            "old_state": self.old_state,
            "reason": self.reason,
            "account": self.account,
            "region": self.region,
            "arn": self.arn,
            "changed_at": self.changed_at,
            "description": self.description,
            "namespace": self.namespace,
            "metric_name": self.metric_name,
            "statistic": self.statistic,
            "period": self.period_s,
            "threshold": self.threshold,
            "comparison": self.comparison,
            "metric_summary": self.metric_summary,
            "dimensions": dict(self.dimensions),
            "service": self.service,
        }


ALARM_TEMPLATE_FIELDS = frozenset(
    {
        "source",
        "name",
        "state",
        "old_state",
        "reason",
        "account",
        "region",
        "arn",
        "changed_at",
        "description",
        "namespace",
        "metric_name",
        "statistic",
        "period",
        "threshold",
        "comparison",
        "metric_summary",
        "dimensions",
        "service",
    }
)
