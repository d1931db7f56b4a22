"""The SQS poller: alarms from a queue subscribed to the alarm topic (``[sqs] queue_url``).

Long polling (20 s, up to 10 messages a call) through ``AwsClients.call``, so boto3 never runs
on the event loop. A body is either an SNS envelope (raw message delivery off) or the alarm
itself (raw message delivery on):

- An SNS envelope gets the same checks as ``POST /sns`` (``SnsVerifier``): it must be signed,
  from a topic in ``sns.topic_arns``, with a valid certificate, and not older than
  ``sns.max_age`` *when it entered the queue* (its SQS ``SentTimestamp``): a queue that filled
  while the bot was down is still taken, a validly signed old message sent to the queue later
  is not. It is deduplicated by its SNS MessageId, so the same alarm delivered to ``POST /sns``
  as well is handled once.
- Anything else (a CloudWatch or EventBridge JSON body without an envelope) is taken only with
  ``[sqs] raw_delivery = true``: then nothing in the message can be checked and the queue
  policy is the trust boundary. It is deduplicated by the SQS MessageId.

A message is deleted as soon as the inbox has durably recorded it. From then on the inbox owns
exactly-once (claims under a lease, redone after a crash), so the message need not stay hidden
in the queue for as long as its playbook runs and no visibility has to be extended.

A refused message is logged and left in the queue, not deleted: it comes back after the
visibility timeout and, when it keeps failing, the queue's redrive policy moves it to the
dead-letter queue. That is on purpose. Some refusals pass (a certificate that could not be
fetched just now), and the others mean that something which should not be writing to the
queue is (a forged or replayed message, a topic nobody listed, raw delivery switched on at the
subscription but not here): the dead-letter queue keeps the evidence for whoever looks into it,
where deleting would leave only a log line. Each return costs a cheap check (topic and age
come before any certificate fetch, and failed fetches are cached).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from bot.alarms.ingest import AlarmInbox
from bot.aws import AwsClients
from bot.errors import SignatureInvalid
from bot.ingress.sns import (
    MESSAGE_TYPES,
    MalformedMessage,
    SnsVerifier,
    refusal_outcome,
)
from bot.metrics import Metrics
from bot.tasks import BackgroundLoop

log = logging.getLogger(__name__)

_QUEUE_REGION = re.compile(r"^https?://sqs[.-]([a-z]{2}(?:-[a-z]+)+-\d{1,2})\.amazonaws\.com")
MAX_BACKOFF_SECONDS = 30.0


def queue_region(queue_url: str, default: str) -> str:
    """``https://sqs.eu-west-1.amazonaws.com/1234/alarms`` → ``eu-west-1``; else ``default``."""
    found = _QUEUE_REGION.match(queue_url)
    return found.group(1) if found else default


def sns_envelope(body: str) -> dict[str, Any] | None:
    """The SNS envelope an SQS body holds, or None under raw message delivery."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, dict) and value.get("Type") in MESSAGE_TYPES and "Message" in value:
        return value
    return None


def sent_at(message: dict[str, Any]) -> datetime | None:
    """When SQS took the message in (its ``SentTimestamp``, set by SQS, not by the sender)."""
    stamp = message.get("Attributes", {}).get("SentTimestamp")
    try:
        return datetime.fromtimestamp(int(stamp) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class SqsPoller:
    """Receives alarm messages from one queue into the inbox until stopped."""

    def __init__(
        self,
        aws: AwsClients,
        queue_url: str,
        inbox: AlarmInbox,
        verifier: SnsVerifier,
        metrics: Metrics,
        *,
        raw_delivery: bool = False,
        wait_seconds: int = 20,
        max_messages: int = 10,
    ) -> None:
        self._aws = aws
        self._queue_url = queue_url
        self._target = aws.target(queue_region(queue_url, aws.default_region))
        self._inbox = inbox
        self._verifier = verifier
        self._raw_delivery = raw_delivery
        self._metrics = metrics
        self._wait = wait_seconds
        self._max = max_messages
        self._loop = BackgroundLoop("sqs-poller")
        # How old the oldest message of the last receive was when it came (SQS SentTimestamp
        # to now); 0 when the last receive found none; None before the first receive.
        self.receive_lag_seconds: float | None = None

    @property
    def queue_url(self) -> str:
        return self._queue_url

    def start(self) -> None:
        if self._loop.start(self._run):
            log.info("polling %s for alarms", self._queue_url)

    async def stop(self) -> None:
        """Stop polling; a receive in flight is abandoned (its messages come back later)."""
        await self._loop.stop()

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self.poll_once()
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("could not receive from %s: %s", self._queue_url, exc)
                self._metrics.errors.labels("sqs").inc()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def poll_once(self) -> int:
        """One long-polling receive; each message recorded (then deleted) or left. Returns how
        many messages were received."""
        answer = await self._aws.call(
            "sqs",
            "receive_message",
            self._target,
            QueueUrl=self._queue_url,
            WaitTimeSeconds=self._wait,
            MaxNumberOfMessages=self._max,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        messages = answer.get("Messages", [])
        now = datetime.now(UTC)  # SentTimestamp is SQS's wall clock
        sent = [stamp for stamp in map(sent_at, messages) if stamp is not None]
        self.receive_lag_seconds = max(0.0, (now - min(sent)).total_seconds()) if sent else 0.0
        for message in messages:
            try:
                await self._take(message)
            except asyncio.CancelledError:
                raise
            except Exception:  # one message never stops the others; it comes back later
                log.exception("could not take SQS message %s", message.get("MessageId"))
                self._metrics.errors.labels("sqs").inc()
        return len(messages)

    async def _take(self, message: dict[str, Any]) -> None:
        body = str(message.get("Body", ""))
        sqs_id = str(message.get("MessageId", ""))
        envelope = sns_envelope(body)
        key = sqs_id
        if envelope is None:
            if not self._raw_delivery:
                self._leave(
                    message,
                    "not an SNS envelope, and [sqs] raw_delivery is off",
                    "raw_refused",
                )
                return
        else:
            refusal = await self._verify(envelope, sent_at(message))
            if refusal is not None:
                self._leave(message, *refusal)
                return
            if envelope["Type"] != "Notification":
                log.info(
                    "SQS message %s is an SNS %s, not an alarm; deleting it",
                    sqs_id,
                    envelope["Type"],
                )
                await self._delete(message)
                self._metrics.alarms_received.labels("sqs", "ignored").inc()
                return
            key = str(envelope.get("MessageId") or sqs_id)
        new = await self._inbox.accept(key, "sqs", body)
        self._metrics.alarms_received.labels("sqs", "recorded" if new else "duplicate").inc()
        await self._delete(message)

    async def _verify(
        self, envelope: dict[str, Any], received_at: datetime | None
    ) -> tuple[str, str] | None:
        """None when the envelope is acceptable, else why not and the metrics outcome."""
        try:
            await self._verifier.verify(envelope, received_at=received_at)
        except MalformedMessage as exc:
            return exc.user_message, "malformed"
        except SignatureInvalid as exc:
            return exc.user_message, refusal_outcome(exc)
        except UnicodeEncodeError:
            return "the envelope holds text that is not Unicode", "malformed"
        return None

    def _leave(self, message: dict[str, Any], why: str, outcome: str) -> None:
        """Log and count a refused message; it stays in the queue for the redrive policy."""
        receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        log.warning(
            "leaving SQS message %s in the queue (received %s times): %s; "
            "the queue's redrive policy takes it when it keeps failing",
            str(message.get("MessageId", ""))[:100],
            receives,
            why,
        )
        self._metrics.alarms_received.labels("sqs", outcome).inc()

    async def _delete(self, message: dict[str, Any]) -> None:
        await self._aws.call(
            "sqs",
            "delete_message",
            self._target,
            QueueUrl=self._queue_url,
            ReceiptHandle=message["ReceiptHandle"],
        )
