"""The SQS poller against moto's SQS: recorded, then deleted; bad bodies left for redrive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.alarms.ingest import AlarmInbox
from bot.alarms.sns import CertificateStore
from bot.alarms.sqs import SqsPoller, queue_region, sns_envelope
from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.metrics import Metrics
from bot.runs import TaskTracker
from bot.store.sqlite import SqliteStore
from tests.alarms.signing import alarm_message, confirmation, notification, signer
from tests.alarms.sns_harness import start_harness


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, body: str, message_id: str) -> None:
        self.seen.append(message_id)


class Queue:
    """A moto queue, the poller reading it, and the inbox behind it."""

    def __init__(self, session: boto3.Session, tmp_path: Path) -> None:
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
        self.poller = SqsPoller(
            self.aws,
            self.url,
            self.inbox,
            CertificateStore(tmp_path / "certs", never_fetch),
            self.metrics,
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


async def test_signed_envelopes_and_raw_bodies_are_recorded_then_deleted(queue: Queue) -> None:
    envelope = notification(message_id="sns-id-1")
    queue.send(signer().body(envelope))
    raw_id = queue.send(alarm_message("prod-db-cpu"))
    assert await queue.poller.poll_once() == 2
    await queue.settle()
    # The SNS envelope dedupes by its SNS MessageId, the raw body by the SQS MessageId.
    assert sorted(queue.process.seen) == sorted(["sns-id-1", raw_id])
    sns_item = await queue.store.inbox_get("sns-id-1")
    raw_item = await queue.store.inbox_get(raw_id)
    assert sns_item is not None and sns_item.source == "sqs" and sns_item.status == "done"
    assert json.loads(sns_item.body)["Message"] == envelope["Message"]
    assert raw_item is not None and json.loads(raw_item.body)["AlarmName"] == "prod-db-cpu"
    assert queue.bodies_left() == []
    assert queue.received("recorded") == 2


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
        q.aws, q.url, q.inbox, CertificateStore(tmp_path / "certs"), q.metrics, wait_seconds=1
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
