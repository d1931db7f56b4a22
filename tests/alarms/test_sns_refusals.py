"""``POST /sns`` refuses what it should, and cheaply: over real HTTP, one refusal per test.

The endpoint is the real one on a loopback server (pytest-aiohttp), with a real SQLite inbox;
only the certificate fetch is a stand-in, which counts what a message made the bot fetch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography import x509

from bot.alarms.ingest import AlarmInbox
from bot.demo.sns_signer import Signer, make_certificate
from bot.errors import SignatureInvalid
from bot.ingress.sns import CertificateStore, SnsVerifier
from bot.ingress.sns_endpoint import SnsEndpoint
from bot.metrics import Metrics
from bot.store.sqlite import SqliteStore
from bot.tasks import TaskTracker
from tests.alarms.signing import OTHER_TOPIC, TOPIC, alarm_message, notification, signer
from tests.alarms.sns_harness import SnsHarness, sns_harness

__all__ = ["sns_harness"]

UNKNOWN_CERT = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-unknown.pem"
AClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


class Fetches:
    """The certificate fetch: records each URL, then does what the test says."""

    def __init__(self, answer: Callable[[str], Awaitable[bytes]] | None = None) -> None:
        self.urls: list[str] = []
        self._answer = answer

    async def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        if self._answer is None:
            raise SignatureInvalid("no signing certificate there (HTTP 404)")
        return await self._answer(url)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Endpoint:
    client: TestClient[Any, Any]
    store: SqliteStore
    metrics: Metrics

    async def post(self, body: str) -> int:
        response = await self.client.post("/sns", data=body)
        return response.status

    def received(self, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "triagebot_alarms_received_total", {"source": "sns", "outcome": outcome}
        )
        return value or 0.0


async def recorded(body: str, message_id: str) -> None:
    """The inbox's process: nothing to do here, the row in the store is what is checked."""


@pytest.fixture
async def serve(
    tmp_path: Path, aiohttp_client: AClient
) -> AsyncIterator[Callable[..., Awaitable[Endpoint]]]:
    """Start ``POST /sns`` on a verifier built from the arguments (cert_dir is empty)."""
    stores: list[SqliteStore] = []

    async def start(
        certs: CertificateStore | None = None,
        *,
        fetch: Fetches | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> Endpoint:
        store = SqliteStore(tmp_path / "state.db")
        await store.start()
        stores.append(store)
        metrics = Metrics()
        certs = certs or CertificateStore(tmp_path / "empty", fetch or Fetches())
        endpoint = SnsEndpoint(
            verifier=SnsVerifier(certs, [TOPIC], clock=clock),
            inbox=AlarmInbox(store, recorded, TaskTracker(), metrics, "test:1", clock),
            metrics=metrics,
        )
        app = web.Application()
        app.router.add_post("/sns", endpoint.__call__)
        return Endpoint(await aiohttp_client(app), store, metrics)

    yield start
    for store in stores:
        await store.close()


def at_url(url: str) -> Signer:
    """Our signer, naming another certificate URL."""
    return dataclasses.replace(signer(), cert_url=url)


# --- what a forged message may cost ---------------------------------------------------------


async def test_a_forged_topic_is_refused_with_no_fetch(
    serve: Callable[..., Awaitable[Endpoint]],
) -> None:
    fetch = Fetches()
    h = await serve(fetch=fetch)
    forged = [
        at_url(UNKNOWN_CERT).body(notification(topic=OTHER_TOPIC, message_id=f"forged-{i}"))
        for i in range(100)
    ]
    statuses = await asyncio.gather(*(h.post(body) for body in forged))
    assert statuses == [403] * 100
    assert fetch.urls == []
    assert h.received("unknown_topic") == 100
    assert await h.store.inbox_get("forged-0") is None


class CountedCertificates(CertificateStore):
    """Tells when ``expected`` requests have asked for a certificate (to hold the fetch)."""

    def __init__(self, expected: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked = 0
        self.expected = expected
        self.everyone_asked = asyncio.Event()

    async def get(self, url: str) -> x509.Certificate:
        self.asked += 1
        if self.asked >= self.expected:
            self.everyone_asked.set()
        return await super().get(url)


async def test_concurrent_requests_for_one_unknown_certificate_share_one_fetch(
    serve: Callable[..., Awaitable[Endpoint]], tmp_path: Path
) -> None:
    url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-new.pem"
    certs: CountedCertificates

    async def after_everyone_asked(_: str) -> bytes:
        await certs.everyone_asked.wait()
        return signer().pem

    fetch = Fetches(after_everyone_asked)
    certs = CountedCertificates(20, tmp_path / "empty", fetch)
    h = await serve(certs)
    bodies = [at_url(url).body(notification(message_id=f"same-cert-{i}")) for i in range(20)]
    assert await asyncio.gather(*(h.post(body) for body in bodies)) == [200] * 20
    assert fetch.urls == [url]
    assert await h.store.inbox_get("same-cert-19") is not None


async def test_a_certificate_that_does_not_exist_is_not_fetched_again_for_a_while(
    serve: Callable[..., Awaitable[Endpoint]], tmp_path: Path
) -> None:
    fetch = Fetches()  # every fetch: HTTP 404
    clock = FakeMonotonic()
    certs = CertificateStore(tmp_path / "empty", fetch, retry_invalid_after=600, monotonic=clock)
    h = await serve(certs)
    forged = at_url(UNKNOWN_CERT)
    assert await h.post(forged.body(notification())) == 403  # not 503: SNS would retry
    for _ in range(10):
        assert await h.post(forged.body(notification())) == 403
    assert fetch.urls == [UNKNOWN_CERT]
    clock.now += 601
    assert await h.post(forged.body(notification())) == 403
    assert fetch.urls == [UNKNOWN_CERT] * 2


async def test_a_failed_fetch_is_retried_soon_not_at_once(
    serve: Callable[..., Awaitable[Endpoint]], tmp_path: Path
) -> None:
    async def unreachable(_: str) -> bytes:
        raise ConnectionResetError("peer went away")

    fetch = Fetches(unreachable)
    clock = FakeMonotonic()
    certs = CertificateStore(tmp_path / "empty", fetch, retry_failed_after=10, monotonic=clock)
    h = await serve(certs)
    body = at_url(UNKNOWN_CERT).body(notification())
    assert [await h.post(body) for _ in range(5)] == [503] * 5  # SNS retries a 5xx
    assert len(fetch.urls) == 1
    clock.now += 11
    assert await h.post(body) == 503
    assert len(fetch.urls) == 2


async def test_past_the_fetch_limit_a_request_is_answered_503_at_once(
    serve: Callable[..., Awaitable[Endpoint]], tmp_path: Path
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def held(_: str) -> bytes:
        started.set()
        await release.wait()
        return signer().pem

    fetch = Fetches(held)
    h = await serve(CertificateStore(tmp_path / "empty", fetch, max_fetches=1))
    first_url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-first.pem"
    first = asyncio.ensure_future(h.post(at_url(first_url).body(notification())))
    await started.wait()
    assert await h.post(at_url(UNKNOWN_CERT).body(notification())) == 503
    assert fetch.urls == [first_url]
    release.set()
    assert await first == 200


# --- what an unforged message must still satisfy ---------------------------------------------


async def test_a_stale_message_is_refused_and_logged(
    serve: Callable[..., Awaitable[Endpoint]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    signer().place(tmp_path / "certs")
    now = datetime.now(UTC) + timedelta(days=1)
    h = await serve(CertificateStore(tmp_path / "certs", Fetches()), clock=lambda: now)
    old = notification(message_id="stale-1", sent_at=now - timedelta(hours=1, minutes=6))
    recent = notification(message_id="recent-1", sent_at=now - timedelta(minutes=59))
    with caplog.at_level(logging.WARNING, logger="bot.ingress.sns_endpoint"):
        assert await h.post(signer().body(old)) == 403
    assert "older than sns.max_age" in caplog.text
    assert await h.store.inbox_get("stale-1") is None
    assert h.received("stale") == 1
    assert await h.post(signer().body(recent)) == 200


async def test_a_message_from_the_future_is_refused(
    serve: Callable[..., Awaitable[Endpoint]], tmp_path: Path
) -> None:
    signer().place(tmp_path / "certs")
    h = await serve(CertificateStore(tmp_path / "certs", Fetches()))
    ahead = notification(message_id="ahead-1", sent_at=datetime.now(UTC) + timedelta(hours=1))
    assert await h.post(signer().body(ahead)) == 403
    assert await h.store.inbox_get("ahead-1") is None


@pytest.mark.parametrize(
    "not_after",
    [datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=400)],
    ids=["expired", "not-yet-valid"],
)
async def test_a_certificate_outside_its_validity_is_refused(
    serve: Callable[..., Awaitable[Endpoint]], tmp_path: Path, not_after: datetime
) -> None:
    outdated = Signer(signer().key, make_certificate(signer().key, not_after=not_after))
    outdated.place(tmp_path / "certs")
    h = await serve(CertificateStore(tmp_path / "certs", Fetches()))
    assert await h.post(outdated.body(notification(message_id="outdated-1"))) == 403
    assert await h.store.inbox_get("outdated-1") is None
    assert h.received("bad_certificate") == 1


@pytest.mark.parametrize(
    "digit", ["\u0661", "\uff11", "\u09e7"], ids=["arabic", "fullwidth", "bengali"]
)
async def test_a_cert_host_with_a_non_ascii_digit_is_refused_with_no_fetch(
    serve: Callable[..., Awaitable[Endpoint]], digit: str
) -> None:
    fetch = Fetches(lambda _: asyncio.sleep(0, signer().pem))
    h = await serve(fetch=fetch)
    url = f"https://sns.us-east-{digit}.amazonaws.com/SimpleNotificationService-x.pem"
    body = json.dumps(at_url(url).sign(notification(message_id="digit-1")), ensure_ascii=False)
    assert await h.post(body) == 403
    assert fetch.urls == []
    assert await h.store.inbox_get("digit-1") is None


# --- a state-change time from the future -----------------------------------------------------


async def test_a_state_change_in_2099_is_taken_as_now_and_a_later_ok_resolves(
    sns_harness: SnsHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = sns_harness
    name = "prod-clock-skew"
    alarm = alarm_message(name, changed_at="2099-01-01T00:00:00.000+0000")
    assert await h.post(signer().body(notification(alarm, subject=None))) == (200, "ok")
    await h.settle()
    assert "in the future; taken as" in caplog.text
    later = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    ok = alarm_message(name, "OK", old_state="ALARM", changed_at=later)
    assert (await h.post(signer().body(notification(ok, subject=None))))[0] == 200
    await h.settle()
    [root] = h.roots(name)
    assert "resolved" in root.text.lower()
