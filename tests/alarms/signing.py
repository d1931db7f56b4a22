"""SNS messages signed the way SNS signs them, with our own RSA key and self-signed certificate.

The certificate goes into ``cert_dir`` under the name SNS would give it
(``SimpleNotificationService-test.pem``), and every message names it with a SigningCertURL on
a real SNS host, so the production verifier reads it from disk and never fetches anything.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bot.alarms.sns import string_to_sign

CERT_NAME = "SimpleNotificationService-test.pem"
CERT_URL = f"https://sns.us-east-1.amazonaws.com/{CERT_NAME}"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alarms"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:somebody-elses"


@dataclass(frozen=True)
class Signer:
    """An RSA key and its self-signed certificate."""

    key: rsa.RSAPrivateKey
    pem: bytes

    def place(self, cert_dir: Path) -> Path:
        """Put the certificate where ``CertificateStore(cert_dir)`` looks for CERT_URL."""
        cert_dir.mkdir(parents=True, exist_ok=True)
        path = cert_dir / CERT_NAME
        path.write_bytes(self.pem)
        return path

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(message), padding.PKCS1v15(), digest)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": CERT_URL,
        }

    def body(self, message: dict[str, Any], version: str = "1") -> str:
        """The signed message as SNS POSTs it (pretty-printed JSON)."""
        return json.dumps(self.sign(message, version), indent=2)


@cache
def signer() -> Signer:
    """One key per test session (RSA key generation is slow)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return Signer(key, cert.public_bytes(serialization.Encoding.PEM))


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
) -> dict[str, Any]:
    """An unsigned SNS Notification envelope."""
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": alarm_message() if message is None else message,
        "Timestamp": "2024-05-01T12:00:01.000Z",
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
        "Timestamp": "2024-05-01T12:00:00.000Z",
    }
