"""Test messages for SNS, signed with ``bot.demo.sns_signer`` (our own key and certificate).

The certificate goes into ``cert_dir`` under the name SNS would give it
(``SimpleNotificationService-test.pem``), and every message names it with a SigningCertURL on
a real SNS host, so the production verifier reads it from disk and never fetches anything.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from bot.demo.sns_signer import CERT_NAME, CERT_URL, Signer, signer

TOPIC = "arn:aws:sns:us-east-1:123456789012:alarms"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:somebody-elses"

__all__ = ["CERT_NAME", "CERT_URL", "OTHER_TOPIC", "TOPIC", "Signer", "signer"]


def sns_time(when: datetime | None = None) -> str:
    """A time as SNS writes its Timestamp (``2024-05-01T12:00:01.000Z``); default now."""
    when = when or datetime.now(UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def alarm_message(
    name: str = "prod-api-5xx",
    state: str = "ALARM",
    *,
    changed_at: str = "2024-05-01T12:00:00.000+0000",
    old_state: str = "OK",
) -> str:
    """A CloudWatch alarm as SNS delivers it (``Message`` of the envelope)."""
    return json.dumps(
        {
            "AlarmName": name,
            "AlarmDescription": "5xx from the API load balancer",
            "AWSAccountId": "123456789012",
            "AlarmConfigurationUpdatedTimestamp": "2024-04-01T09:00:00.000+0000",
            "NewStateValue": state,
            "NewStateReason": "Threshold Crossed: 1 datapoint [42.0] was greater than 10.0.",
            "StateChangeTime": changed_at,
            "Region": "US East (N. Virginia)",
            "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
            "OldStateValue": old_state,
            "OKActions": [],
            "AlarmActions": [TOPIC],
            "InsufficientDataActions": [],
            "Trigger": {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Namespace": "AWS/ApplicationELB",
                "StatisticType": "Statistic",
                "Statistic": "SUM",
                "Unit": None,
                "Dimensions": [{"value": "app/prod-api/50dc6c495c0c9188", "name": "LoadBalancer"}],
                "Period": 60,
                "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 10.0,
                "TreatMissingData": "missing",
                "EvaluateLowSampleCountPercentile": "",
            },
        }
    )


def notification(
    message: str | None = None,
    *,
    message_id: str | None = None,
    topic: str = TOPIC,
    subject: str | None = 'ALARM: "prod-api-5xx" in US East (N. Virginia)',
    sent_at: datetime | None = None,
) -> dict[str, Any]:
    """An unsigned SNS Notification envelope, sent now unless ``sent_at`` says otherwise."""
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": alarm_message() if message is None else message,
        "Timestamp": sns_time(sent_at),
        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:1",
    }
    if subject is not None:
        envelope["Subject"] = subject
    return envelope


def confirmation(kind: str = "SubscriptionConfirmation", *, topic: str = TOPIC) -> dict[str, Any]:
    """An unsigned SubscriptionConfirmation / UnsubscribeConfirmation envelope."""
    token = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d9"
    return {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "Token": token,
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.",
        "SubscribeURL": (
            f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}"
            f"&Token={token}"
        ),
        "Timestamp": sns_time(),
    }
