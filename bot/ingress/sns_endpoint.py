"""``POST /sns``: the Amazon SNS HTTP(S) subscription endpoint.

Every message is verified before anything else (``bot.ingress.sns.SnsVerifier``: topic and age
first, then certificate and signature). Answers, and why:

- 200: a Notification durably recorded in the inbox (or recorded before: a duplicate); a
  subscription confirmed; an unsubscribe noted.
- 400: not an SNS message (not JSON, not an object, a field missing).
- 403: the topic is not in ``sns.topic_arns`` (answered before any certificate fetch), the
  message is older than ``sns.max_age``, the certificate URL is not SNS's, there is no such
  certificate or it is outside its validity, or the signature does not hold. With
  ``sns.topic_arns`` empty every message is refused: an endpoint that accepted any topic would
  let anyone with an AWS account post into the channel.
- 413: a body over 256 KiB (SNS's own message limit), refused before it is read whole.
- 502: confirming a subscription failed (SNS sends the confirmation again).
- 503: the signing certificate could not be fetched just now. The message may well be
  genuine, and SNS retries an HTTP endpoint on 5xx (not on 4xx), so a passing network problem
  loses nothing. Likewise when the store cannot record the message (its file deleted or
  unwritable, the disk full, the table gone): SNS delivers it again later.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from bot.alarms.ingest import AlarmInbox
from bot.errors import SignatureInvalid
from bot.ingress.sns import (
    CertificateUnavailable,
    MalformedMessage,
    SnsEnvelope,
    SnsVerifier,
    TopicNotAllowed,
    check_subscribe_url,
    refusal_outcome,
)
from bot.metrics import Metrics
from bot.store.base import StoreUnavailable

log = logging.getLogger(__name__)

MAX_SNS_BODY = 256 * 1024
_MAX_CONFIRM_ANSWER = 64 * 1024
_SUBSCRIPTION_ARN = re.compile(r"<SubscriptionArn>([^<]{1,2048})</SubscriptionArn>")

ConfirmFetch = Callable[[str], Awaitable[str]]
"""GETs a SubscribeURL and returns the answer's text; raises when SNS did not say yes."""


class ConfirmFailed(Exception):
    """SNS did not accept the subscription confirmation."""


async def fetch_confirmation(url: str) -> str:
    """GET the SubscribeURL (10 s timeout); the XML answer holds the SubscriptionArn."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        text = (await response.content.read(_MAX_CONFIRM_ANSWER)).decode("utf-8", "replace")
        if response.status != 200:
            raise ConfirmFailed(f"SNS answered HTTP {response.status}")
        return text


class SnsEndpoint:
    """The aiohttp handler for ``POST /sns``."""

    def __init__(
        self,
        *,
        verifier: SnsVerifier,
        inbox: AlarmInbox,
        metrics: Metrics,
        confirm: ConfirmFetch = fetch_confirmation,
        max_body: int = MAX_SNS_BODY,
    ) -> None:
        self._verifier = verifier
        self._inbox = inbox
        self._metrics = metrics
        self._confirm = confirm
        self._max_body = max_body
        if not verifier.topics:
            log.warning(
                "sns.topic_arns is empty: POST /sns refuses every message until it lists "
                "the alarm topics"
            )

    async def __call__(self, request: web.Request) -> web.Response:
        raw = await self._read(request)
        if raw is None:
            return self._answer(413, "too_large", "request body over 256 KiB")
        try:
            text, message = _decode(raw)
            envelope = await self._verifier.verify(message)
        except CertificateUnavailable as exc:
            log.warning("SNS message not verified yet: %s", exc.user_message)
            return self._answer(503, "certificate_unavailable", "certificate unavailable")
        except MalformedMessage as exc:
            return self._answer(400, "malformed", exc.user_message)
        except UnicodeEncodeError:  # a lone surrogate (``"\\ud800"``) cannot have been signed
            return self._answer(400, "malformed", "the body holds text that is not Unicode")
        except SignatureInvalid as exc:
            return self._refused(exc, message)
        if envelope.type == "SubscriptionConfirmation":
            return await self._confirm_subscription(envelope)
        if envelope.type == "UnsubscribeConfirmation":
            log.info("SNS says this endpoint was unsubscribed from %s", envelope.topic_arn)
            return self._answer(200, "unsubscribed", "noted")
        try:
            new = await self._inbox.accept(envelope.message_id, "sns", text)
        except StoreUnavailable as exc:
            log.error("SNS message not recorded, SNS will retry: %s", exc.user_message)
            return self._answer(503, "store_unavailable", "cannot record the message just now")
        return self._answer(200, "recorded" if new else "duplicate", "ok")

    async def _read(self, request: web.Request) -> bytes | None:
        """The raw body, or None when it is over the limit (declared or actually sent)."""
        declared = request.content_length
        if declared is not None and declared > self._max_body:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await request.content.read(self._max_body + 1 - size)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > self._max_body:
                return None

    async def _confirm_subscription(self, envelope: SnsEnvelope) -> web.Response:
        try:
            check_subscribe_url(envelope.subscribe_url)
        except SignatureInvalid as exc:
            log.warning("refused an SNS subscription confirmation: %s", exc.user_message)
            return self._answer(403, "bad_signature", "subscribe URL not allowed")
        assert envelope.subscribe_url is not None  # checked just above
        try:
            answer = await self._confirm(envelope.subscribe_url)
        except Exception as exc:
            log.warning(
                "could not confirm the SNS subscription to %s: %s",
                envelope.topic_arn,
                f"{type(exc).__name__}: {exc}"[:300],
            )
            return self._answer(502, "confirm_failed", "confirmation failed")
        found = _SUBSCRIPTION_ARN.search(answer)
        log.info(
            "confirmed the SNS subscription to %s: %s",
            envelope.topic_arn,
            found.group(1) if found else "SubscriptionArn not in the answer",
        )
        return self._answer(200, "subscription_confirmed", "confirmed")

    def _refused(self, exc: SignatureInvalid, message: dict[str, Any]) -> web.Response:
        outcome = refusal_outcome(exc)
        empty = isinstance(exc, TopicNotAllowed) and not self._verifier.topics
        log.warning(
            "refused an SNS %s: %s%s",
            str(message.get("Type"))[:40],
            exc.user_message,
            " (sns.topic_arns is empty: list the alarm topics there)" if empty else "",
            extra={"message_id": str(message.get("MessageId"))[:100]},
        )
        texts = {"unknown_topic": "topic not allowed", "stale": "message too old"}
        return self._answer(403, outcome, texts.get(outcome, "signature invalid"))

    def _answer(self, status: int, outcome: str, text: str) -> web.Response:
        self._metrics.alarms_received.labels("sns", outcome).inc()
        return web.Response(status=status, text=text)


def _decode(raw: bytes) -> tuple[str, dict[str, Any]]:
    """The body as text and as a JSON object, or MalformedMessage. SNS sends UTF-8."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise MalformedMessage("the body is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedMessage("an SNS message is a JSON object")
    return text, value
