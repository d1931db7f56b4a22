"""Records and store factories the store tests share."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.store import DynamoDbStore, Incident, RunRecord
from bot.store.base import Delivery

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TABLE = "triagebot-state"


def run(run_id: str, channel: str = "C1", minutes: int = 0, **changes: object) -> RunRecord:
    rec = RunRecord(
        run_id=run_id,
        channel=channel,
        user="U1",
        playbook="alb-errors",
        params={"load_balancer": "app/prod/123", "lookback": "1h"},
        source="slash",
        started_at=T0 + timedelta(minutes=minutes),
        finished_at=None,
        outcome="running",
        step_statuses={},
    )
    return replace(rec, **changes)  # type: ignore[arg-type]


def incident(key: str = "111122223333/us-east-1/prod-api-5xx", **changes: object) -> Incident:
    inc = Incident(
        key=key,
        route="alb",
        channel="C1",
        root_ts="",
        state="ALARM",
        opened_at=T0,
        state_changed_at=T0,
        alarm_name="prod-api-5xx",
    )
    return replace(inc, **changes)  # type: ignore[arg-type]


def dynamodb_store(
    session: boto3.Session | None = None,
    *,
    endpoint_url: str | None = None,
    table: str = TABLE,
    **options: Any,
) -> DynamoDbStore:
    """A DynamoDB store with clients of its own, as one replica has (moto in-process or HTTP);
    ``options`` go to ``DynamoDbStore`` (retention, clock)."""
    factory = (lambda: session) if session is not None else None
    aws = AwsClients(AwsSettings(), endpoint_url=endpoint_url, session_factory=factory)
    return DynamoDbStore(aws, table, owns_aws=True, **options)


def delivery(delivery_id: str = "root:k@1", minutes: int = 0, **changes: object) -> Delivery:
    """A pending outbox delivery, due ``minutes`` after T0 and relevant for a day."""
    due = T0 + timedelta(minutes=minutes)
    d = Delivery(
        delivery_id=delivery_id,
        channel="C1",
        payload='{"text": "prod-api-5xx is in ALARM"}',
        created_at=T0,
        due_at=due,
        expires_at=T0 + timedelta(days=1),
    )
    return replace(d, **changes)  # type: ignore[arg-type]
