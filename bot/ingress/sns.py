"""Amazon SNS message verification: is this message really from SNS, for us, and recent?

SNS signs a fixed list of the message's fields (``string_to_sign``) with the private key of the
certificate at ``SigningCertURL``: SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA. The
certificate URL must point at SNS itself; certificates come from ``bot.ingress.sns_certs``.

``SnsVerifier`` checks, cheapest first, so that a forged message costs no outbound request:
the shape and the signature fields, the certificate URL, the topic (``sns.topic_arns``), the
message's age (``sns.max_age``, plus a clock-skew allowance), and only then the certificate
(fetched if need be), its validity period and the signature itself.

Errors: ``MalformedMessage`` for input that is not an SNS message at all (HTTP 400);
``SignatureInvalid`` and its subclasses for a message that is refused (HTTP 403):
``TopicNotAllowed``, ``MessageStale``, ``CertificateNotValid``; and ``CertificateUnavailable``
when the certificate could not be fetched just now (worth a retry, HTTP 503).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import ValidationError

from bot.alarms.envelope import MalformedMessage, SnsEnvelope
from bot.alarms.reading import timestamp
from bot.errors import SignatureInvalid
from bot.ingress.sns_certs import (
    CertificateStore,
    CertificateUnavailable,
    Fetch,
    check_cert_url,
    check_subscribe_url,
    fetch_https,
)

__all__ = [
    "CONFIRMATION_KEYS",
    "MESSAGE_TYPES",
    "NOTIFICATION_KEYS",
    "CertificateNotValid",
    "CertificateStore",
    "CertificateUnavailable",
    "Fetch",
    "MalformedMessage",
    "MessageStale",
    "SnsEnvelope",
    "SnsVerifier",
    "TopicNotAllowed",
    "check_cert_url",
    "check_subscribe_url",
    "fetch_https",
    "refusal_outcome",
    "string_to_sign",
]

MESSAGE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")

NOTIFICATION_KEYS: tuple[str, ...] = (
    "Message",
    "MessageId",
    "Subject",
    "Timestamp",
    "TopicArn",
    "Type",
)
CONFIRMATION_KEYS: tuple[str, ...] = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
"""The signed fields, in the order SNS signs them."""

DEFAULT_MAX_AGE = timedelta(hours=1)
"""SNS's own HTTP retry window: a genuine delivery is never older than this."""
DEFAULT_SKEW = timedelta(minutes=5)
"""How far our clock may be off from AWS's."""

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}

Clock = Callable[[], datetime]


class TopicNotAllowed(SignatureInvalid):
    """The message names a topic outside ``sns.topic_arns``."""


class MessageStale(SignatureInvalid):
    """The message is older than ``sns.max_age`` (a replay), or dated in the future."""


class CertificateNotValid(SignatureInvalid):
    """The signing certificate has expired or is not valid yet."""


def refusal_outcome(error: SignatureInvalid) -> str:
    """The metrics outcome for a refusal: ``unknown_topic``, ``stale``, ``bad_certificate``,
    ``certificate_unavailable`` or ``bad_signature``."""
    if isinstance(error, TopicNotAllowed):
        return "unknown_topic"
    if isinstance(error, MessageStale):
        return "stale"
    if isinstance(error, CertificateNotValid):
        return "bad_certificate"
    if isinstance(error, CertificateUnavailable):
        return "certificate_unavailable"
    return "bad_signature"


def string_to_sign(envelope: Mapping[str, Any]) -> bytes:
    """The bytes SNS signed: ``Key\\nValue\\n`` per signed field, values exactly as received."""
    kind = envelope.get("Type")
    if kind == "Notification":
        keys = NOTIFICATION_KEYS
    elif kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        keys = CONFIRMATION_KEYS
    else:
        raise MalformedMessage(f"not an SNS message type: {str(kind)[:40]!r}")
    lines = []
    for key in keys:
        value = envelope.get(key)
        if key == "Subject" and value is None:
            continue
        if not isinstance(value, str):
            raise MalformedMessage(f"SNS {kind} without a string {key}")
        lines.append(f"{key}\n{value}\n")
    return "".join(lines).encode("utf-8")


class SnsVerifier:
    """Everything that makes an SNS message acceptable, for ``POST /sns`` and the SQS poller."""

    def __init__(
        self,
        certs: CertificateStore,
        topic_arns: Iterable[str],
        *,
        max_age: timedelta = DEFAULT_MAX_AGE,
        skew: timedelta = DEFAULT_SKEW,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.certs = certs
        self.topics = frozenset(topic_arns)
        self._max_age = max_age
        self._skew = skew
        self._clock = clock

    async def verify(
        self, envelope: Mapping[str, Any], *, received_at: datetime | None = None
    ) -> SnsEnvelope:
        """Check an SNS message; return it parsed, or raise SignatureInvalid (or a subclass).

        ``received_at`` is when the message reached us (the SQS SentTimestamp for a queued
        one); its age and its certificate are judged at that time. Raises MalformedMessage
        when the input is not an SNS message at all.
        """
        if not isinstance(envelope, Mapping):
            raise MalformedMessage("an SNS message is a JSON object")
        data = string_to_sign(envelope)
        hash_type, signature = _signature_fields(envelope)
        url = envelope.get("SigningCertURL", envelope.get("SigningCertUrl"))
        check_cert_url(url)
        try:
            parsed = SnsEnvelope.model_validate(envelope)
        except ValidationError as exc:
            fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
            raise MalformedMessage(f"not a valid SNS message ({fields or 'shape'})") from None
        if parsed.topic_arn not in self.topics:
            raise TopicNotAllowed(f"topic {parsed.topic_arn[:256]} is not in sns.topic_arns")
        at = received_at or self._clock()
        self._check_age(parsed, at)
        cert = await self.certs.get(parsed.signing_cert_url)
        self._check_validity(cert, at)
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureInvalid("the signing certificate does not hold an RSA key")
        try:
            key.verify(signature, data, padding.PKCS1v15(), hash_type())
        except (InvalidSignature, ValueError):
            raise SignatureInvalid("signature does not match") from None
        return parsed

    def _check_age(self, parsed: SnsEnvelope, at: datetime) -> None:
        sent = timestamp(parsed.timestamp)
        if sent is None:
            raise MalformedMessage("the SNS Timestamp is not a time")
        if sent > at + self._skew:
            raise MessageStale(f"sent at {parsed.timestamp[:40]}, in the future")
        if at - sent > self._max_age + self._skew:
            raise MessageStale(
                f"sent at {parsed.timestamp[:40]}, older than sns.max_age "
                f"({self._max_age.total_seconds():.0f} s)"
            )

    def _check_validity(self, cert: x509.Certificate, at: datetime) -> None:
        if at + self._skew < cert.not_valid_before_utc:
            raise CertificateNotValid(
                f"the signing certificate is valid only from {cert.not_valid_before_utc}"
            )
        if at - self._skew > cert.not_valid_after_utc:
            raise CertificateNotValid(
                f"the signing certificate expired at {cert.not_valid_after_utc}"
            )


def _signature_fields(
    envelope: Mapping[str, Any],
) -> tuple[Callable[[], hashes.HashAlgorithm], bytes]:
    version = envelope.get("SignatureVersion")
    if version is None:
        raise SignatureInvalid("missing SignatureVersion")
    hash_type = _HASHES.get(version) if isinstance(version, str) else None
    if hash_type is None:
        raise SignatureInvalid(f"unsupported SignatureVersion {str(version)[:10]!r}")
    encoded = envelope.get("Signature")
    if not isinstance(encoded, str) or not encoded:
        raise SignatureInvalid("missing Signature")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("Signature is not base64") from None
    return hash_type, signature
