"""SNS signing certificates: where they may come from, and getting them cheaply.

A certificate URL must be ``https://sns.<region>.amazonaws.com[.cn]/…/x.pem`` (ASCII only:
``check_cert_url``). ``CertificateStore`` reads a pre-placed file from ``cert_dir`` or fetches
the URL, and keeps what it got in memory. Fetching is what a forged message could make the bot
do on its behalf, so it is bounded three ways:

- one fetch per URL at a time: concurrent requests for the same certificate share it;
- at most ``max_fetches`` URLs fetched at once; past that a request is refused at once
  (``CertificateUnavailable``: SNS retries) rather than queued;
- a negative cache: a URL whose certificate does not exist or is not a certificate is not
  fetched again for ``retry_invalid_after`` seconds, one that failed for a passing reason
  (network, timeout, a 5xx) for ``retry_failed_after`` seconds — short, because SNS's own
  HTTP retries (three, 20 s apart by default) must find it fetchable again.

Errors: ``SignatureInvalid`` (HTTP 403) when the certificate cannot be the right one, and its
subclass ``CertificateUnavailable`` (HTTP 503) when it could not be fetched just now.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from urllib.parse import SplitResult, urlsplit

import aiohttp
from cryptography import x509

from bot.errors import BotError, SignatureInvalid

logger = logging.getLogger(__name__)

_SNS_HOST = re.compile(
    r"^sns\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2})\.amazonaws\.com(?P<cn>\.cn)?$",
    re.ASCII,
)
_CERT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.pem$", re.ASCII)
_MAX_CERT_BYTES = 64 * 1024

Fetch = Callable[[str], Awaitable[bytes]]
Monotonic = Callable[[], float]

DEFAULT_MAX_FETCHES = 4
DEFAULT_RETRY_FAILED_AFTER = 10.0
DEFAULT_RETRY_INVALID_AFTER = 600.0
DEFAULT_MAX_REFUSED = 1024


class CertificateUnavailable(SignatureInvalid):
    """The signing certificate could not be fetched; the message may be fine, try again later."""


def _check_sns_url(url: object, what: str) -> SplitResult:
    """An https URL on an SNS host (``sns.<region>.amazonaws.com[.cn]``), or SignatureInvalid."""
    if not isinstance(url, str) or not url:
        raise SignatureInvalid(f"missing {what}")
    if not url.isascii():
        raise SignatureInvalid(f"{what} is not plain ASCII")
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
    if not _CERT_NAME.match(PurePosixPath(parts.path).name):
        raise SignatureInvalid("SigningCertURL names an odd file")


def check_subscribe_url(url: object) -> None:
    """Accept a SubscribeURL only on an SNS host over https; call before confirming."""
    _check_sns_url(url, "SubscribeURL")


async def fetch_https(url: str) -> bytes:
    """GET a signing certificate (5 s timeout, at most 64 KiB).

    A 4xx means there is no such certificate (SignatureInvalid); anything else that goes wrong
    may pass (CertificateUnavailable).
    """
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        if 400 <= response.status < 500:
            raise SignatureInvalid(f"no signing certificate there (HTTP {response.status})")
        if response.status != 200:
            raise CertificateUnavailable(f"signing certificate answered HTTP {response.status}")
        body = await response.content.read(_MAX_CERT_BYTES + 1)
        if len(body) > _MAX_CERT_BYTES:
            raise SignatureInvalid("signing certificate is too large")
        return body


class CertificateStore:
    """Signing certificates by URL: a pre-placed file in ``cert_dir``, else fetched.

    Files are named like the URL's last path segment
    (``SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem``). Certificates read or
    fetched are kept in memory, at most ``max_cached`` of them. Whether a certificate is within
    its validity is for the verifier to judge, at each message (``bot.ingress.sns``).
    """

    def __init__(
        self,
        cert_dir: str | Path | None = None,
        fetch: Fetch | None = None,
        *,
        max_cached: int = 32,
        max_fetches: int = DEFAULT_MAX_FETCHES,
        retry_failed_after: float = DEFAULT_RETRY_FAILED_AFTER,
        retry_invalid_after: float = DEFAULT_RETRY_INVALID_AFTER,
        max_refused: int = DEFAULT_MAX_REFUSED,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._dir = Path(cert_dir) if cert_dir is not None else None
        self._fetch = fetch or fetch_https
        self._max = max(1, max_cached)
        self._max_fetches = max(1, max_fetches)
        self._retry_failed = retry_failed_after
        self._retry_invalid = retry_invalid_after
        self._max_refused = max(1, max_refused)
        self._now = monotonic
        self._cache: dict[str, x509.Certificate] = {}
        self._refused: dict[str, tuple[float, SignatureInvalid]] = {}
        self._fetching: dict[str, asyncio.Task[x509.Certificate]] = {}

    async def get(self, url: str) -> x509.Certificate:
        check_cert_url(url)
        cached = self._cache.get(url)
        if cached is not None:
            return cached
        local = self._local_file(url)
        if local is not None:
            return self._keep(url, _load(_read(local)))
        self._still_refused(url)
        task = self._fetching.get(url)
        if task is None:
            if len(self._fetching) >= self._max_fetches:
                raise CertificateUnavailable(
                    f"{len(self._fetching)} signing certificates are being fetched already"
                )
            task = asyncio.create_task(self._fetch_once(url), name="sns-certificate-fetch")
            task.add_done_callback(lambda done: self._fetched(url, done))
            self._fetching[url] = task
        return await asyncio.shield(task)

    def _local_file(self, url: str) -> Path | None:
        if self._dir is None:
            return None
        local = self._dir / PurePosixPath(urlsplit(url).path).name
        return local if local.is_file() else None

    def _still_refused(self, url: str) -> None:
        """Raise what the last fetch of ``url`` raised, while its negative cache entry lasts."""
        refused = self._refused.get(url)
        if refused is None:
            return
        until, error = refused
        if self._now() < until:
            raise type(error)(f"{error.user_message} (not fetched again yet)")
        del self._refused[url]

    async def _fetch_once(self, url: str) -> x509.Certificate:
        try:
            try:
                pem = await self._fetch(url)
            except BotError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise CertificateUnavailable(
                    f"could not fetch the signing certificate: {type(exc).__name__}"
                ) from exc
            cert = _load(pem)
        except SignatureInvalid as exc:
            self._refuse(url, exc)
            raise
        return self._keep(url, cert)

    def _fetched(self, url: str, task: asyncio.Task[x509.Certificate]) -> None:
        """The shared fetch has ended: forget it, and mark its outcome seen (every waiter may
        have gone)."""
        if self._fetching.get(url) is task:
            del self._fetching[url]
        if not task.cancelled():
            task.exception()

    def _refuse(self, url: str, error: SignatureInvalid) -> None:
        passing = isinstance(error, CertificateUnavailable)
        delay = self._retry_failed if passing else self._retry_invalid
        logger.warning(
            "SNS signing certificate %s: %s; not fetched again for %.0f s",
            url[:300],
            error.user_message,
            delay,
        )
        if len(self._refused) >= self._max_refused:
            self._refused.pop(next(iter(self._refused)))
        self._refused[url] = (self._now() + delay, error)

    def _keep(self, url: str, cert: x509.Certificate) -> x509.Certificate:
        if len(self._cache) >= self._max:
            self._cache.pop(next(iter(self._cache)))
        self._cache[url] = cert
        return cert


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CertificateUnavailable(f"cannot read {path}: {exc.strerror}") from exc


def _load(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise SignatureInvalid("the signing certificate is not a PEM certificate") from None
