"""The least-privilege IAM policy, generated from what each step declares it needs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.config import Settings
from bot.playbooks.schema import Playbook
from bot.steps.registry import Registry

DIGEST_ACTIONS = (
    "ce:GetCostAndUsage",
    "ce:GetCostForecast",
    "ce:GetAnomalies",
    "budgets:ViewBudget",
    "sts:GetCallerIdentity",
)
# Used outside playbooks: `/triage alarm <name>` looks the alarm up; alarm threads chart its metric.
ALARM_ACTIONS = ("cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData")
SQS_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",  # the operator view: how many messages wait (bot.backlog)
)
# The DynamoDB store (`[store] url = "dynamodb://table"`): its table is created on first start.
# TransactWriteItems is no IAM action: each item in it is authorised as its Put/Update/Delete.
STATE_TABLE_ACTIONS = (
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:UpdateTimeToLive",  # TTL on a table the store creates ([store] retention)
)


def build_policy(
    settings: Settings, playbooks: Iterable[Playbook], registry: Registry
) -> dict[str, Any]:
    """An IAM policy document: read-only actions for every step the playbooks use, the digest's
    Cost Explorer reads when a digest is configured, SQS when a queue is, the state table (and
    its indexes) when the store is DynamoDB, AssumeRole for the configured accounts, and — only
    for playbooks marked ``mutating: true`` — their write actions in a statement of their own."""
    read: set[str] = set(ALARM_ACTIONS)
    write: set[str] = set()
    for playbook in playbooks:
        for spec in playbook.steps:
            step = registry.get(spec.uses)
            target = write if (step.mutating and playbook.mutating) else read
            target.update(step.permissions)
    statements: list[dict[str, Any]] = [_statement("TriagebotReadOnly", sorted(read), "*")]
    if settings.digest is not None:
        statements.append(_statement("TriagebotCostDigest", sorted(DIGEST_ACTIONS), "*"))
    if settings.sqs is not None and settings.sqs.queue_url:
        statements.append(
            _statement("TriagebotAlarmQueue", list(SQS_ACTIONS), _queue_arn(settings.sqs.queue_url))
        )
    if settings.store.url.startswith("dynamodb://"):
        table = settings.store.url.removeprefix("dynamodb://")
        arn = f"arn:aws:dynamodb:{settings.aws.region}:*:table/{table}"
        # Queries on the table's indexes are authorised on the index ARNs.
        statements.append(
            _statement("TriagebotStateTable", list(STATE_TABLE_ACTIONS), [arn, f"{arn}/index/*"])
        )
    roles = sorted({account.role_arn for account in settings.aws.accounts})
    if roles:
        statements.append(_statement("TriagebotAssumeAccountRoles", ["sts:AssumeRole"], roles))
    if write:
        statements.append(_statement("TriagebotMutatingPlaybooks", sorted(write - read), "*"))
    return {"Version": "2012-10-17", "Statement": statements}


def _statement(sid: str, actions: list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}


def _queue_arn(queue_url: str) -> str:
    """``https://sqs.us-east-1.amazonaws.com/111122223333/alarms`` → the queue's ARN."""
    parts = queue_url.rstrip("/").split("/")
    host = parts[2] if len(parts) > 2 else ""
    region = host.split(".")[1] if host.startswith("sqs.") else "*"
    if len(parts) >= 5:
        return f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"
    return "*"
