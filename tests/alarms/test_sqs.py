"""The SQS poller against moto's SQS: recorded, then deleted; refused bodies left for redrive.

moto 5 puts a placeholder signature on the envelopes its SNS writes to SQS, so the envelopes
here are signed by us (``tests.alarms.signing``) and sent to the queue directly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.alarms.ingest import AlarmInbox
from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.ingress.sns import CertificateStore, SnsVerifier
from bot.ingress.sqs import SqsPoller, queue_region, sns_envelope
from bot.metrics import Metrics
from bot.store.sqlite import SqliteStore
from bot.tasks import TaskTracker
from tests.alarms.signing import (
    OTHER_TOPIC,
    TOPIC,
    alarm_message,
    confirmation,
    notification,
    signer,
)
from tests.alarms.sns_harness import start_harness


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, body: str, message_id: str) -> None:
        self.seen.append(message_id)


class Queue:
    """A moto queue, the poller reading it, and the inbox behind it."""

    def __init__(
        self,
        session: boto3.Session,
        tmp_path: Path,
        *,
        raw_delivery: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sqs = session.client("sqs", region_name="us-east-1")
        self.url = self.sqs.create_queue(QueueName="alarms", Attributes={"VisibilityTimeout": "0"})[
            "QueueUrl"
        ]
        self.store = SqliteStore(tmp_path / "state.db")
        self.process = Recorder()
        self.tasks = TaskTracker()
        self.metrics = Metrics()
        self.inbox = AlarmInbox(self.store, self.process, self.tasks, self.metrics, "test:1")
        self.aws = AwsClients(AwsSettings(), session_factory=lambda: session)
        signer().place(tmp_path / "certs")
        self.verifier = SnsVerifier(
            CertificateStore(tmp_path / "certs", never_fetch), [TOPIC], clock=clock
        )
        self.poller = SqsPoller(
            self.aws,
            self.url,
            self.inbox,
            self.verifier,
            self.metrics,
            raw_delivery=raw_delivery,
            wait_seconds=0,
        )

    def send(self, body: str) -> str:
        message_id: str = self.sqs.send_message(QueueUrl=self.url, MessageBody=body)["MessageId"]
        return message_id

    def bodies_left(self) -> list[str]:
        answer = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        return [m["Body"] for m in answer.get("Messages", [])]

    async def settle(self) -> None:
        assert await self.tasks.drain(5) == 0
        self.tasks.accepting = True

    def received(self, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "triagebot_alarms_received_total", {"source": "sqs", "outcome": outcome}
        )
        return value or 0.0


async def never_fetch(url: str) -> bytes:
    raise AssertionError(f"fetched {url}")


@pytest.fixture
async def queue(session: boto3.Session, tmp_path: Path) -> AsyncIterator[Queue]:
    q = Queue(session, tmp_path)
    await q.store.start()
    yield q
    await q.poller.stop()
    await q.store.close()
    q.aws.close()


def sns_body(**kwargs: Any) -> str:
    """An SQS body as SNS writes it with raw message delivery off: the signed envelope."""
    return signer().body(notification(**kwargs))


async def test_signed_envelopes_are_recorded_then_deleted(queue: Queue) -> None:
    envelope = notification(message_id="sns-id-1")
    queue.send(signer().body(envelope))
    assert await queue.poller.poll_once() == 1
    await queue.settle()
    # The SNS envelope dedupes by its SNS MessageId, not the SQS one.
    assert queue.process.seen == ["sns-id-1"]
    item = await queue.store.inbox_get("sns-id-1")
    assert item is not None and item.source == "sqs" and item.status == "done"
    assert json.loads(item.body)["Message"] == envelope["Message"]
    assert queue.bodies_left() == []
    assert queue.received("recorded") == 1


async def test_raw_bodies_are_left_in_the_queue_by_default(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    queue.send(alarm_message("prod-db-cpu"))
    queue.send(
        json.dumps({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch"})
    )
    assert await queue.poller.poll_once() == 2
    await queue.settle()
    assert queue.process.seen == []
    assert len(queue.bodies_left()) == 2
    assert queue.received("raw_refused") == 2
    assert "raw_delivery is off" in caplog.text


async def test_raw_bodies_are_recorded_with_raw_delivery_on(
    session: boto3.Session, tmp_path: Path
) -> None:
    q = Queue(session, tmp_path, raw_delivery=True)
    await q.store.start()
    raw_id = q.send(alarm_message("prod-db-cpu"))
    assert await q.poller.poll_once() == 1
    await q.settle()
    # A raw body dedupes by the SQS MessageId: there is no other.
    assert q.process.seen == [raw_id]
    item = await q.store.inbox_get(raw_id)
    assert item is not None and json.loads(item.body)["AlarmName"] == "prod-db-cpu"
    assert q.bodies_left() == []
    # Raw delivery on does not make an SNS-shaped body exempt from its checks.
    q.send(json.dumps(notification(message_id="unsigned-raw-1")))
    await q.poller.poll_once()
    assert await q.store.inbox_get("unsigned-raw-1") is None
    assert q.received("bad_signature") == 1
    await q.store.close()
    q.aws.close()


async def test_an_unsigned_sns_envelope_is_left_in_the_queue(queue: Queue) -> None:
    queue.send(json.dumps(notification(message_id="unsigned-1")))
    assert await queue.poller.poll_once() == 1
    await queue.settle()
    assert queue.process.seen == []
    assert await queue.store.inbox_get("unsigned-1") is None
    assert [json.loads(b)["MessageId"] for b in queue.bodies_left()] == ["unsigned-1"]
    assert queue.received("bad_signature") == 1


async def test_a_signed_envelope_from_a_topic_not_listed_is_left(queue: Queue) -> None:
    queue.send(signer().body(notification(message_id="other-topic-1", topic=OTHER_TOPIC)))
    assert await queue.poller.poll_once() == 1
    await queue.settle()
    assert queue.process.seen == []
    assert await queue.store.inbox_get("other-topic-1") is None
    assert len(queue.bodies_left()) == 1
    assert queue.received("unknown_topic") == 1


async def test_a_replayed_envelope_is_left_but_a_queue_that_waited_is_read(
    session: boto3.Session, tmp_path: Path
) -> None:
    """Age counts until the message entered the queue (SentTimestamp), not until it is read:
    an old signed message sent to the queue today is a replay; a fresh one read three hours
    late (the bot was down) is not."""
    later = datetime.now(UTC) + timedelta(hours=3)
    q = Queue(session, tmp_path, clock=lambda: later)
    await q.store.start()
    old = datetime.now(UTC) - timedelta(hours=2)
    q.send(signer().body(notification(message_id="replayed-1", sent_at=old)))
    q.send(signer().body(notification(message_id="waited-1")))
    assert await q.poller.poll_once() == 2
    await q.settle()
    assert q.process.seen == ["waited-1"]
    assert [json.loads(b)["MessageId"] for b in q.bodies_left()] == ["replayed-1"]
    assert q.received("stale") == 1
    await q.store.close()
    q.aws.close()


async def test_a_tampered_envelope_is_left_in_the_queue(queue: Queue) -> None:
    tampered = signer().sign(notification(message_id="bad-1"))
    tampered["Message"] = tampered["Message"].replace("ALARM", "OK")
    queue.send(json.dumps(tampered))
    for _ in range(3):  # it keeps failing; the redrive policy, not the bot, gives up on it
        assert await queue.poller.poll_once() == 1
    await queue.settle()
    assert queue.process.seen == []
    assert await queue.store.inbox_get("bad-1") is None
    assert [json.loads(b)["MessageId"] for b in queue.bodies_left()] == ["bad-1"]
    assert queue.received("bad_signature") == 3


async def test_an_envelope_with_a_foreign_cert_url_is_left(queue: Queue) -> None:
    message = signer().sign(notification(message_id="evil-1"))
    message["SigningCertURL"] = "https://sns.us-east-1.amazonaws.com.evil.com/x.pem"
    queue.send(json.dumps(message))
    await queue.poller.poll_once()
    assert await queue.store.inbox_get("evil-1") is None
    assert len(queue.bodies_left()) == 1


async def test_the_same_alarm_through_sns_and_sqs_is_processed_once(queue: Queue) -> None:
    envelope = signer().sign(notification(message_id="both-1"))
    assert await queue.inbox.accept("both-1", "sns", json.dumps(envelope)) is True
    queue.send(json.dumps(envelope))
    queue.send(json.dumps(envelope))  # SQS delivers at least once: twice here
    await queue.poller.poll_once()
    await queue.settle()
    assert queue.process.seen == ["both-1"]
    assert queue.bodies_left() == []  # duplicates are deleted too
    assert queue.received("duplicate") == 2


async def test_subscription_confirmations_are_deleted_not_recorded(queue: Queue) -> None:
    queue.send(signer().body(confirmation()))
    await queue.poller.poll_once()
    await queue.settle()
    assert queue.process.seen == []
    assert queue.bodies_left() == []
    assert queue.received("ignored") == 1


async def test_the_running_poller_takes_messages_and_stops_cleanly(
    session: boto3.Session, tmp_path: Path
) -> None:
    q = Queue(session, tmp_path)
    q.poller = SqsPoller(
        q.aws,
        q.url,
        q.inbox,
        SnsVerifier(CertificateStore(tmp_path / "certs"), [TOPIC]),
        q.metrics,
        wait_seconds=1,
    )
    await q.store.start()
    q.poller.start()
    q.send(sns_body(message_id="live-1"))
    for _ in range(100):
        if q.process.seen:
            break
        await asyncio.sleep(0.05)
    assert q.process.seen == ["live-1"]
    await asyncio.wait_for(q.poller.stop(), 2)
    q.send(sns_body(message_id="after-stop"))
    await asyncio.sleep(0.3)
    assert q.process.seen == ["live-1"]
    await q.store.close()
    q.aws.close()


def test_queue_region_and_envelope_detection() -> None:
    assert queue_region("https://sqs.eu-west-1.amazonaws.com/1234/alarms", "us-east-1") == (
        "eu-west-1"
    )
    assert queue_region("http://127.0.0.1:5000/123456789012/alarms", "us-east-2") == "us-east-2"
    assert sns_envelope(json.dumps(notification())) is not None
    assert sns_envelope(alarm_message()) is None
    assert sns_envelope("plain text, raw delivery") is None
    assert sns_envelope("[1, 2]") is None


async def test_the_app_polls_the_configured_queue_into_a_thread(
    tmp_path: Path, moto_url: str
) -> None:
    """``[sqs] queue_url`` set: the running app takes the alarm from the queue to Slack."""
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_url)
    url = sqs.create_queue(QueueName="alarm-queue")["QueueUrl"]
    async for h in start_harness(tmp_path, moto_url, extra=f'[sqs]\nqueue_url = "{url}"\n'):
        assert h.app.sqs is not None
        envelope = notification(alarm_message("queued-alarm"), message_id="queued-1")
        sqs.send_message(QueueUrl=url, MessageBody=signer().body(envelope))
        for _ in range(200):
            item = await h.app.store.inbox_get("queued-1")
            if item is not None and item.status == "done":
                break
            await asyncio.sleep(0.05)
        assert item is not None and item.source == "sqs"
        await h.settle()
        assert len(h.roots("queued-alarm")) == 1
        left = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])
        assert left == []
    # The stopped poller's last long poll (20 s) still waits in a worker thread: end it now
    # rather than at interpreter exit.
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
