"""``POST /sns`` on the running app: signed messages in, one thread per alarm out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.alarms.ingest import AlarmInbox
from bot.ingress.sns import CertificateStore, SnsVerifier
from bot.ingress.sns_endpoint import MAX_SNS_BODY, SnsEndpoint
from bot.metrics import Metrics
from bot.store.sqlite import SqliteStore
from bot.tasks import TaskTracker
from tests.alarms.signing import (
    CERT_NAME,
    OTHER_TOPIC,
    TOPIC,
    alarm_message,
    confirmation,
    notification,
    signer,
)
from tests.alarms.sns_harness import CHANNEL, SnsHarness, sns_harness, start_harness

__all__ = ["sns_harness"]


def received(h: SnsHarness, outcome: str) -> float:
    value = h.app.metrics.registry.get_sample_value(
        "triagebot_alarms_received_total", {"source": "sns", "outcome": outcome}
    )
    return value or 0.0


async def test_a_signed_alarm_is_recorded_then_opens_one_thread(sns_harness: SnsHarness) -> None:
    h = sns_harness
    envelope = notification(message_id="a1b2c3d4-0000-4000-8000-000000000001")
    status, _ = await h.post(signer().body(envelope))
    assert status == 200
    # The 200 came after the message was recorded: it is in the store whatever happens next.
    item = await h.app.store.inbox_get(envelope["MessageId"])
    assert item is not None and item.source == "sns"
    assert json.loads(item.body)["Message"] == envelope["Message"]
    await h.settle()
    [root] = h.roots("prod-api-5xx")
    assert "ALARM" in root.text.upper()
    assert h.slack.thread(CHANNEL, root.ts), "the playbook result goes in the thread"
    done = await h.app.store.inbox_get(envelope["MessageId"])
    assert done is not None and done.status == "done"
    assert received(h, "recorded") == 1


async def test_signature_version_2_without_subject(sns_harness: SnsHarness) -> None:
    h = sns_harness
    envelope = notification(alarm_message("prod-queue-depth"), subject=None)
    assert (await h.post(signer().body(envelope, version="2")))[0] == 200
    await h.settle()
    assert len(h.roots("prod-queue-depth")) == 1


async def test_a_duplicate_answers_200_and_changes_nothing(sns_harness: SnsHarness) -> None:
    h = sns_harness
    body = signer().body(notification())
    assert (await h.post(body))[0] == 200
    await h.settle()
    calls = len(h.slack.calls)
    assert (await h.post(body))[0] == 200
    await h.settle()
    assert len(h.slack.calls) == calls
    assert len(h.roots("prod-api-5xx")) == 1
    assert received(h, "duplicate") == 1


async def test_three_concurrent_deliveries_make_one_root(sns_harness: SnsHarness) -> None:
    h = sns_harness
    body = signer().body(notification())
    answers = await asyncio.gather(*(h.post(body) for _ in range(3)))
    assert [status for status, _ in answers] == [200, 200, 200]
    await h.settle()
    assert len(h.roots("prod-api-5xx")) == 1


async def test_the_ok_resolves_the_thread(sns_harness: SnsHarness) -> None:
    h = sns_harness
    await h.post(signer().body(notification()))
    await h.settle()
    ok = alarm_message(state="OK", old_state="ALARM", changed_at="2024-05-01T12:14:00.000+0000")
    assert (await h.post(signer().body(notification(ok, subject=None))))[0] == 200
    await h.settle()
    [root] = h.roots("prod-api-5xx")
    assert "resolved" in root.text.lower()


async def test_a_plain_notification_is_posted_as_a_message(sns_harness: SnsHarness) -> None:
    h = sns_harness
    envelope = notification("Deploy 42 finished on prod", subject="Deploys")
    assert (await h.post(signer().body(envelope)))[0] == 200
    await h.settle()
    texts = [m.text for m in h.slack.messages(CHANNEL)]
    assert any("Deploy 42 finished on prod" in t or "Deploys" in t for t in texts), texts


async def test_a_tampered_message_is_refused(sns_harness: SnsHarness) -> None:
    h = sns_harness
    signed = signer().sign(notification(message_id="tampered-1"))
    signed["Message"] = signed["Message"].replace('"ALARM"', '"OK"')
    assert (await h.post(json.dumps(signed)))[0] == 403
    await h.settle()
    assert await h.app.store.inbox_get("tampered-1") is None
    assert [c for c in h.slack.calls if c.method != "auth.test"] == []  # /healthz's check
    assert received(h, "bad_signature") == 1


async def test_an_unknown_topic_is_refused_even_when_signed(sns_harness: SnsHarness) -> None:
    h = sns_harness
    body = signer().body(notification(topic=OTHER_TOPIC, message_id="other-1"))
    assert (await h.post(body))[0] == 403
    assert await h.app.store.inbox_get("other-1") is None
    assert received(h, "unknown_topic") == 1


@pytest.mark.parametrize(
    "url",
    [
        f"http://sns.us-east-1.amazonaws.com/{CERT_NAME}",
        f"https://sns.us-east-1.amazonaws.com.evil.com/{CERT_NAME}",
        f"https://user@sns.us-east-1.amazonaws.com/{CERT_NAME}",
        f"https://sns.us-east-1.amazonaws.com:8443/{CERT_NAME}",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.crt",
        f"https://example.com/{CERT_NAME}",
    ],
)
async def test_a_bad_cert_url_is_refused(sns_harness: SnsHarness, url: str) -> None:
    signed = {**signer().sign(notification(message_id="cert-1")), "SigningCertURL": url}
    assert (await sns_harness.post(json.dumps(signed)))[0] == 403
    assert await sns_harness.app.store.inbox_get("cert-1") is None


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "[1, 2, 3]",
        '"a string"',
        "",
        json.dumps({"Type": "Notification"}),
        json.dumps({**notification(), "Type": "Something"}),
        b"\xff\xfe\x00 not utf-8",
        '{"Type": "Notification", "Message": "\\ud800", "MessageId": "x"}',
    ],
)
async def test_malformed_bodies_get_400(sns_harness: SnsHarness, body: str | bytes) -> None:
    assert (await sns_harness.post(body))[0] == 400


async def test_a_body_over_256_kib_gets_413(sns_harness: SnsHarness) -> None:
    h = sns_harness
    big = signer().body(notification("x" * (300 * 1024), message_id="big-1"))
    assert (await h.post(big))[0] == 413
    # Also when no Content-Length says so up front (chunked upload).

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(300):
            yield b"x" * 1024

    async with h.http.post(f"{h.url}/sns", data=chunks()) as response:
        assert response.status == 413
    # Just under the limit is read (and judged on its merits).
    under = json.dumps({"Type": "Notification", "pad": "x" * (MAX_SNS_BODY - 100)})
    assert (await h.post(under))[0] == 400
    assert await h.app.store.inbox_get("big-1") is None
    assert await h.healthz() == 200


async def test_a_subscription_to_a_listed_topic_is_confirmed(sns_harness: SnsHarness) -> None:
    h = sns_harness
    message = confirmation()
    status, _ = await h.post(signer().body(message))
    assert status == 200
    assert h.confirms.urls == [message["SubscribeURL"]]
    assert received(h, "subscription_confirmed") == 1


async def test_a_subscription_to_another_topic_is_refused_without_a_fetch(
    sns_harness: SnsHarness,
) -> None:
    h = sns_harness
    status, _ = await h.post(signer().body(confirmation(topic=OTHER_TOPIC)))
    assert status == 403
    assert h.confirms.urls == []


async def test_a_failed_confirmation_answers_502_so_sns_retries(sns_harness: SnsHarness) -> None:
    h = sns_harness
    h.confirms.fail = True
    assert (await h.post(signer().body(confirmation())))[0] == 502


async def test_a_forged_subscribe_url_is_refused(sns_harness: SnsHarness) -> None:
    h = sns_harness
    message = confirmation()
    message["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com.evil.com/?Action=Confirm"
    assert (await h.post(signer().body(message)))[0] == 403
    assert h.confirms.urls == []


async def test_an_unsubscribe_confirmation_is_noted(sns_harness: SnsHarness) -> None:
    h = sns_harness
    assert (await h.post(signer().body(confirmation("UnsubscribeConfirmation"))))[0] == 200
    assert h.confirms.urls == []
    assert received(h, "unsubscribed") == 1


async def test_with_no_topics_listed_everything_is_refused(
    tmp_path: Path, moto_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async for h in start_harness(tmp_path, moto_url, topics=()):
        assert (await h.post(signer().body(notification(message_id="n-1"))))[0] == 403
        assert (await h.post(signer().body(confirmation())))[0] == 403
        assert h.confirms.urls == []
        assert await h.app.store.inbox_get("n-1") is None
    assert "sns.topic_arns" in caplog.text


async def test_an_unreachable_certificate_answers_503_so_sns_retries(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    """The certificate is neither in cert_dir nor fetchable: the message may be genuine."""

    async def unreachable(url: str) -> bytes:
        raise aiohttp.ClientConnectionError("no route to host")

    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    tasks = TaskTracker()
    inbox = AlarmInbox(store, never_process, tasks, Metrics(), "test:1")
    endpoint = SnsEndpoint(
        verifier=SnsVerifier(CertificateStore(tmp_path / "empty", unreachable), (TOPIC,)),
        inbox=inbox,
        metrics=Metrics(),
    )
    app = web.Application()
    app.router.add_post("/sns", endpoint.__call__)
    client = await aiohttp_client(app)
    response = await client.post("/sns", data=signer().body(notification(message_id="later-1")))
    assert response.status == 503
    assert await store.inbox_get("later-1") is None
    await store.close()


async def never_process(body: str, message_id: str) -> None:
    raise AssertionError("nothing should be processed")
