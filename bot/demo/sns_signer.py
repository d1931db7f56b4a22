"""SNS messages signed the way SNS signs them, with a locally generated RSA key and a
self-signed certificate — for ``triagebot demo``, the tests and the benchmarks.

The certificate goes into ``cert_dir`` under the name SNS would give it, and every message names
it with a SigningCertURL on a real SNS host, so the production verifier reads it from disk and
never fetches anything.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bot.ingress.sns import string_to_sign

CERT_NAME = "SimpleNotificationService-test.pem"
CERT_URL = f"https://sns.us-east-1.amazonaws.com/{CERT_NAME}"


@dataclass(frozen=True)
class Signer:
    """An RSA key and its self-signed certificate."""

    key: rsa.RSAPrivateKey
    pem: bytes
    cert_url: str = CERT_URL  # the SigningCertURL the messages name

    def place(self, cert_dir: Path) -> Path:
        """Put the certificate where ``CertificateStore(cert_dir)`` looks for CERT_URL."""
        cert_dir.mkdir(parents=True, exist_ok=True)
        path = cert_dir / self.cert_url.rsplit("/", 1)[-1]
        path.write_bytes(self.pem)
        return path

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(message), padding.PKCS1v15(), digest)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": self.cert_url,
        }

    def body(self, message: dict[str, Any], version: str = "1") -> str:
        """The signed message as SNS POSTs it (pretty-printed JSON)."""
        return json.dumps(self.sign(message, version), indent=2)


def make_certificate(key: rsa.RSAPrivateKey, *, not_after: datetime) -> bytes:
    """A self-signed PEM certificate for ``key``, valid for the year before ``not_after``."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - timedelta(days=365))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def new_signer(cert_url: str = CERT_URL) -> Signer:
    """A fresh RSA key and certificate (valid for 30 more days)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Signer(
        key, make_certificate(key, not_after=datetime.now(UTC) + timedelta(days=30)), cert_url
    )


@cache
def signer() -> Signer:
    """One key per process (RSA key generation is slow)."""
    return new_signer()
