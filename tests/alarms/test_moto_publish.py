"""moto server publishes to ``POST /sns`` for real, signed with moto's own key.

moto signs like SNS (SignatureVersion 2, its string-to-sign leaves Subject out, so we publish
without one) and names its certificate ``https://sns.<region>.amazonaws.com/…pem``, which
passes our URL rule; moto serves that PEM itself. The app fetches certificates through an
injected fetch that asks moto server for the same path instead of AWS — the only stand-in.
Without it (a fetch that finds nothing) moto's real POSTs are refused.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import boto3

from bot.ingress.sns import CertificateUnavailable, Fetch
from tests.alarms.signing import alarm_message
from tests.alarms.sns_harness import CHANNEL, SnsHarness, start_harness


def moto_certificates(moto_url: str) -> Fetch:
    """Fetch ``https://sns.<region>.amazonaws.com/X.pem`` from moto server instead."""

    async def fetch(url: str) -> bytes:
        parts = urlsplit(url)
        region = parts.netloc.split(".")[1]
        # moto server picks the service from a SigV4 credential scope, not from Host.
        scope = f"Credential=testing/20240501/{region}/sns/aws4_request"
        headers = {"Authorization": f"AWS4-HMAC-SHA256 {scope}, SignedHeaders=host, Signature=0"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{moto_url}{parts.path}", headers=headers) as response,
        ):
            assert response.status == 200, await response.text()
            return await response.read()

    return fetch


async def nothing_fetchable(url: str) -> bytes:
    raise CertificateUnavailable("no network in tests")


def subscribe(moto_url: str, endpoint: str, topic_name: str = "alarms") -> Callable[..., Any]:
    """A topic in moto with our endpoint subscribed; returns its (blocking) publish."""
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=moto_url)
    topic = sns.create_topic(Name=topic_name)["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint)

    def publish(message: str) -> str:
        message_id: str = sns.publish(TopicArn=topic, Message=message)["MessageId"]
        return message_id

    return publish


async def publish(harness: SnsHarness, moto_url: str, message: str) -> str:
    # moto POSTs from inside the publish call: run it off the loop the app is serving on.
    publish_sync = subscribe(moto_url, f"{harness.url}/sns")
    return await asyncio.to_thread(publish_sync, message)


async def test_a_moto_published_alarm_is_verified_recorded_and_threaded(
    tmp_path: Path, moto_url: str
) -> None:
    async for h in start_harness(tmp_path, moto_url, cert_fetch=moto_certificates(moto_url)):
        message_id = await publish(h, moto_url, alarm_message("moto-published-alarm"))
        item = await h.app.store.inbox_get(message_id)
        assert item is not None, "moto's POST was not recorded"
        envelope = json.loads(item.body)
        assert envelope["SignatureVersion"] == "2" and "Subject" not in envelope
        assert envelope["SigningCertURL"].startswith("https://sns.us-east-1.amazonaws.com/")
        await h.settle()
        assert len(h.roots("moto-published-alarm")) == 1
        assert h.slack.messages(CHANNEL)
        value = h.app.metrics.registry.get_sample_value(
            "triagebot_alarms_received_total", {"source": "sns", "outcome": "recorded"}
        )
        assert value == 1


async def test_moto_posts_are_refused_when_the_certificate_cannot_be_had(
    tmp_path: Path, moto_url: str
) -> None:
    async for h in start_harness(tmp_path, moto_url, cert_fetch=nothing_fetchable):
        message_id = await publish(h, moto_url, alarm_message("moto-unverified"))
        assert await h.app.store.inbox_get(message_id) is None
        value = h.app.metrics.registry.get_sample_value(
            "triagebot_alarms_received_total",
            {"source": "sns", "outcome": "certificate_unavailable"},
        )
        assert value == 1
        assert h.roots("moto-unverified") == []


async def test_moto_posts_from_an_unlisted_topic_are_refused(tmp_path: Path, moto_url: str) -> None:
    async for h in start_harness(
        tmp_path,
        moto_url,
        topics=("arn:aws:sns:us-east-1:123456789012:only-this-one",),
        cert_fetch=moto_certificates(moto_url),
    ):
        message_id = await publish(h, moto_url, alarm_message("moto-unlisted"))
        assert await h.app.store.inbox_get(message_id) is None
        value = h.app.metrics.registry.get_sample_value(
            "triagebot_alarms_received_total", {"source": "sns", "outcome": "unknown_topic"}
        )
        assert value == 1
