"""Amazon SNS message verification: is this message really from SNS, unchanged?

SNS signs a fixed list of the message's fields (``string_to_sign``) with the private key of the
certificate at ``SigningCertURL``: SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA. The
certificate URL must point at SNS itself (``check_cert_url``); certificates come from a directory
of pre-placed files or are fetched once and kept in memory (``CertificateStore``).

Errors: ``MalformedMessage`` for input that is not an SNS message at all (HTTP 400),
``SignatureInvalid`` for one whose signature does not hold (HTTP 403), and its subclass
``CertificateUnavailable`` when the certificate could not be fetched (worth a retry, HTTP 503).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

import aiohttp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from bot.errors import BotError, SignatureInvalid

logger = logging.getLogger(__name__)

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

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}
_SNS_HOST = re.compile(
    r"^sns\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2})\.amazonaws\.com(?P<cn>\.cn)?$"
)
_CERT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.pem$")
_MAX_CERT_BYTES = 64 * 1024

Fetch = Callable[[str], Awaitable[bytes]]
Clock = Callable[[], datetime]


class MalformedMessage(BotError):
    """The body is not an SNS message (not JSON, not an object, a required field missing)."""


class CertificateUnavailable(SignatureInvalid):
    """The signing certificate could not be fetched; the message may be fine, try again later."""


class SnsEnvelope(BaseModel):
    """A verified SNS message as received over HTTP, from Lambda or from SQS.

    ``extra="ignore"`` on purpose: SNS adds fields over time and must not be refused for it.
    Both key casings are accepted (HTTP bodies say ``SigningCertURL``, Lambda records
    ``SigningCertUrl``).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"] = Field(
        alias="Type"
    )
    message_id: str = Field(alias="MessageId")
    topic_arn: str = Field(alias="TopicArn")
    subject: str | None = Field(default=None, alias="Subject")
    message: str = Field(alias="Message")
    timestamp: str = Field(alias="Timestamp")
    signature_version: str = Field(alias="SignatureVersion")
    signature: str = Field(alias="Signature")
    signing_cert_url: str = Field(
        validation_alias=AliasChoices("SigningCertURL", "SigningCertUrl", "signing_cert_url")
    )
    subscribe_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SubscribeURL", "subscribe_url")
    )
    unsubscribe_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("UnsubscribeURL", "UnsubscribeUrl", "unsubscribe_url"),
    )
    token: str | None = Field(default=None, alias="Token")
    message_attributes: dict[str, Any] = Field(default_factory=dict, alias="MessageAttributes")


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


def _check_sns_url(url: object, what: str) -> SplitResult:
    """An https URL on an SNS host (``sns.<region>.amazonaws.com[.cn]``), or SignatureInvalid."""
    if not isinstance(url, str) or not url:
        raise SignatureInvalid(f"missing {what}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise SignatureInvalid(f"{what} is not a valid URL") from None
    if parts.scheme != "https":
        raise SignatureInvalid(f"{what} is not https")
    if port not in (None, 443):
        raise SignatureInvalid(f"{what} uses port {port}")
    if "@" in parts.netloc:
        raise SignatureInvalid(f"{what} holds user info")
    host = _SNS_HOST.match(parts.hostname or "")
    if host is None or bool(host["cn"]) != host["region"].startswith("cn-"):
        raise SignatureInvalid(f"{what} is not on an SNS host: {parts.hostname!r}")
    return parts


def check_cert_url(url: object) -> None:
    """Accept only ``https://sns.<region>.amazonaws.com[.cn]/…/x.pem``, else SignatureInvalid."""
    parts = _check_sns_url(url, "SigningCertURL")
    if not parts.path.endswith(".pem") or parts.query or parts.fragment:
        raise SignatureInvalid("SigningCertURL is not a .pem file")


def check_subscribe_url(url: object) -> None:
    """Accept a SubscribeURL only on an SNS host over https; call before confirming."""
    _check_sns_url(url, "SubscribeURL")


async def fetch_https(url: str) -> bytes:
    """GET a signing certificate (5 s timeout, at most 64 KiB)."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        if response.status != 200:
            raise CertificateUnavailable(f"signing certificate answered HTTP {response.status}")
        body = await response.content.read(_MAX_CERT_BYTES + 1)
        if len(body) > _MAX_CERT_BYTES:
            raise SignatureInvalid("signing certificate is too large")
        return body


class CertificateStore:
    """Signing certificates by URL: a pre-placed file in ``cert_dir``, else fetched once.

    Files are named like the URL's last path segment
    (``SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem``). Fetched and loaded
    certificates are kept in memory, at most ``max_cached`` of them. An expired certificate is
    logged, not refused, as AWS's own SDK validators do.
    """

    def __init__(
        self,
        cert_dir: str | Path | None = None,
        fetch: Fetch | None = None,
        *,
        max_cached: int = 32,
        clock: Clock | None = None,
    ) -> None:
        self._dir = Path(cert_dir) if cert_dir is not None else None
        self._fetch = fetch or fetch_https
        self._max = max(1, max_cached)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cache: dict[str, x509.Certificate] = {}

    async def get(self, url: str) -> x509.Certificate:
        check_cert_url(url)
        cached = self._cache.get(url)
        if cached is not None:
            return cached
        name = PurePosixPath(urlsplit(url).path).name
        if not _CERT_NAME.match(name):
            raise SignatureInvalid("SigningCertURL names an odd file")
        local = self._dir / name if self._dir is not None else None
        if local is not None and local.is_file():
            try:
                pem = local.read_bytes()
            except OSError as exc:
                raise CertificateUnavailable(f"cannot read {local}: {exc.strerror}") from exc
        else:
            try:
                pem = await self._fetch(url)
            except BotError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise CertificateUnavailable(
                    f"could not fetch the signing certificate: {type(exc).__name__}"
                ) from exc
        cert = self._load(pem, url)
        if len(self._cache) >= self._max:
            self._cache.pop(next(iter(self._cache)))
        self._cache[url] = cert
        return cert

    def _load(self, pem: bytes, url: str) -> x509.Certificate:
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise SignatureInvalid("the signing certificate is not a PEM certificate") from None
        now = self._clock()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            logger.warning(
                "SNS signing certificate %s is outside its validity period (%s to %s)",
                url,
                cert.not_valid_before_utc.isoformat(),
                cert.not_valid_after_utc.isoformat(),
            )
        return cert


async def verify(envelope: Mapping[str, Any], certs: CertificateStore) -> SnsEnvelope:
    """Check an SNS message's signature; return it parsed, or raise SignatureInvalid.

    Raises MalformedMessage when the input is not an SNS message at all.
    """
    if not isinstance(envelope, Mapping):
        raise MalformedMessage("an SNS message is a JSON object")
    data = string_to_sign(envelope)
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
    url = envelope.get("SigningCertURL", envelope.get("SigningCertUrl"))
    check_cert_url(url)
    try:
        parsed = SnsEnvelope.model_validate(envelope)
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
        raise MalformedMessage(f"not a valid SNS message ({fields or 'shape'})") from None
    cert = await certs.get(url)
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureInvalid("the signing certificate does not hold an RSA key")
    try:
        key.verify(signature, data, padding.PKCS1v15(), hash_type())
    except (InvalidSignature, ValueError):
        raise SignatureInvalid("signature does not match") from None
    return parsed
