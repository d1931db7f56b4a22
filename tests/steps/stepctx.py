"""Build a StepContext over a moto session and run a step the way the executor does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients, Target
from bot.config import AwsSettings
from bot.results import StepOutput
from bot.steps.base import StepContext, StepType

DENIED = (
    "User: arn:aws:sts::123456789012:assumed-role/triage/bot is not authorized to perform: {action}"
)


def context(
    session: boto3.Session, *, now: datetime | None = None, alarm: Alarm | None = None
) -> StepContext:
    return StepContext(
        aws=AwsClients(AwsSettings(), session_factory=lambda: session),
        target=Target(region="us-east-1"),
        now=now or datetime.now(UTC),
        alarm=alarm,
    )


def alarm_on(namespace: str, **dimensions: str) -> Alarm:
    return Alarm(
        source=AlarmSource.ALARM,
        name="prod-alarm",
        state="ALARM",
        region="us-east-1",
        namespace=namespace,
        dimensions=dimensions,
    )


async def run(step_type: StepType[Any], ctx: StepContext, **params: Any) -> StepOutput:
    return await step_type.run(ctx, step_type.params.model_validate(params))
