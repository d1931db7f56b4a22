"""The operator view: how far behind a replica is shows in ``/healthz`` and ``/metrics``.

The real app (``build_app``) on a loopback port, against moto server over HTTP (SQS, CloudWatch)
and a real SQLite file; the backlog is read every 0.1 s. The queue holds messages the bot
refuses (raw bodies with raw delivery off: received, left in flight for redrive) and messages
waiting after its poller stopped; CloudWatch holds SQS's ApproximateAgeOfOldestMessage the way
SQS publishes it; the inbox holds a message recorded but not handled and one claimed elsewhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import web

from bot.app import build_app
from bot.config import load_settings
from bot.demo.moto_server import free_port
from bot.demo.slack_api import FakeSlackApi
from bot.timings import Timings
from bot.triage_app import TriageApp
from tests.alarms.signing import notification

SLACK_ENV = {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": "s3cr3t"}
READ_EVERY = timedelta(seconds=0.1)


@dataclass
class Running:
    app: TriageApp
    url: str
    http: aiohttp.ClientSession
    slack: FakeSlackApi

    async def healthz(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/healthz") as response:
            report: dict[str, Any] = await response.json()
            return report

    async def metrics(self) -> str:
        async with self.http.get(f"{self.url}/metrics") as response:
            return await response.text()

    async def report_when(
        self, check: Callable[[dict[str, Any]], bool], readings: int = 100
    ) -> dict[str, Any]:
        """``/healthz`` once ``check`` holds for it, waiting a backlog reading between tries."""
        assert self.app.backlog is not None
        report: dict[str, Any] = {}
        for _ in range(readings):
            await self.app.backlog.next_reading()
            report = await self.healthz()
            if check(report):
                return report
        raise AssertionError(f"not seen in {readings} readings: {report}")


async def running(tmp_path: Path, moto_url: str, extra: str) -> AsyncIterator[Running]:
    async with FakeSlackApi() as slack:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[slack]\ndefault_channel = "C0ALARMS"\n'
            f'[store]\nurl = "sqlite:///{tmp_path / "state.db"}"\n{extra}'
        )
        settings = load_settings(
            config,
            env={**SLACK_ENV, "SLACK_API_URL": slack.base_url, "AWS_ENDPOINT_URL": moto_url},
        )
        app = build_app(settings, timings=Timings(backlog_interval=READ_EVERY))
        runner = web.AppRunner(app.web, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with aiohttp.ClientSession() as http:
            yield Running(app, f"http://127.0.0.1:{port}", http, slack)
        await runner.cleanup()


def sample(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name}{labels} not in /metrics"
    return float(found.group(1))


@pytest.fixture
def sqs(moto_url: str) -> Iterator[Any]:
    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_url)
    yield client
    client.close()


async def test_queue_depth_age_and_inbox_backlog_show_in_healthz_and_metrics(
    tmp_path: Path, moto_url: str, sqs: Any
) -> None:
    url = sqs.create_queue(QueueName="alarms", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    now = datetime.now(UTC)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=moto_url)
    cloudwatch.put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": "alarms"}],
                "Timestamp": now - timedelta(minutes=2),
                "Value": 420.0,
            }
        ],
    )
    cloudwatch.close()
    async for bot in running(tmp_path, moto_url, f'[sqs]\nqueue_url = "{url}"\n'):
        assert bot.app.sqs is not None and bot.app.heartbeat is not None
        store = bot.app.store
        # One alarm recorded but not yet handled, one claimed by another replica.
        await store.inbox_add("pending-1", "sns", "{}", now)
        await store.inbox_add("claimed-1", "sns", "{}", now)
        assert await store.inbox_claim("claimed-1", "other-host:7", timedelta(minutes=5), now)

        # Three bodies the bot refuses (raw delivery is off): received, left in flight.
        for n in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=f"not an envelope {n}")
        report = await bot.report_when(
            lambda r: r["queue"]["in_flight"] == 3 and r["queue"]["receive_lag_s"] is not None
        )
        assert report["queue"]["receive_lag_s"] >= 0

        # The poller stops (a replica falling behind). Its long poll in flight, abandoned,
        # takes the next message (or, stopped between receives, nothing: the message waits);
        # what is sent after that waits in the queue.
        await bot.app.sqs.stop()
        sqs.send_message(QueueUrl=url, MessageBody="taken by the abandoned receive")
        seen = await bot.report_when(lambda r: r["queue"]["in_flight"] + r["queue"]["waiting"] == 4)
        in_flight, waiting = seen["queue"]["in_flight"], seen["queue"]["waiting"]
        for n in range(2):
            sqs.send_message(QueueUrl=url, MessageBody=f"waiting {n}")
        expected = waiting + 2
        report = await bot.report_when(lambda r, want=expected: r["queue"]["waiting"] == want)

        assert report["status"] == "ok"  # a backlog is no fault of this replica
        assert report["replica"] == bot.app.heartbeat.owner
        assert report["queue"]["in_flight"] == in_flight
        assert report["queue"]["oldest_age_s"] == 420.0
        assert "error" not in report["queue"]
        assert report["inbox"]["pending"] == 1
        assert report["inbox"]["claimed"] == 1
        assert report["inbox"]["claimed_here"] == 0
        assert report["inbox"]["oldest_age_s"] >= 0
        assert report["leases"]["heartbeat_age_s"] is not None
        assert report["leases"]["heartbeat_lease_s"] == 60.0

        text = await bot.metrics()
        assert sample(text, "triagebot_queue_messages", '{state="waiting"}') == expected
        assert sample(text, "triagebot_queue_messages", '{state="in_flight"}') == in_flight
        assert sample(text, "triagebot_queue_oldest_message_age_seconds") == 420
        assert sample(text, "triagebot_queue_receive_lag_seconds") >= 0
        assert sample(text, "triagebot_inbox_backlog", '{status="pending"}') == 1
        assert sample(text, "triagebot_inbox_backlog", '{status="claimed"}') == 1
        assert sample(text, "triagebot_inbox_claims_held") == 0
        assert sample(text, "triagebot_store_up") == 1
        assert sample(text, "triagebot_store_latency_seconds") > 0
        owner = bot.app.heartbeat.owner
        assert sample(text, "triagebot_replica", f'{{replica="{owner}"}}') == 1


async def test_an_empty_queue_has_no_old_message_and_no_queue_reads_off(
    tmp_path: Path, moto_url: str, sqs: Any
) -> None:
    url = sqs.create_queue(QueueName="quiet")["QueueUrl"]
    async for bot in running(tmp_path, moto_url, f'[sqs]\nqueue_url = "{url}"\n'):
        report = await bot.report_when(lambda r: r["queue"]["waiting"] == 0)
        assert report["queue"]["oldest_age_s"] == 0.0  # no GetMetricData for an empty queue
        assert report["inbox"] == {
            "pending": 0,
            "claimed": 0,
            "claimed_here": 0,
            "oldest_age_s": 0.0,
        }
    sqs.send_message(QueueUrl=url, MessageBody="wake up")  # ends the stopped poller's long poll
    (tmp_path / "no-queue").mkdir()
    async for bot in running(tmp_path / "no-queue", moto_url, ""):
        report = await bot.report_when(lambda r: r["backlog_read_at"] is not None)
        assert report["queue"] == "off"
        assert "triagebot_queue_messages{" not in await bot.metrics()


async def test_a_queue_that_cannot_be_read_says_why_in_healthz(
    tmp_path: Path, moto_url: str, sqs: Any
) -> None:
    url = sqs.create_queue(QueueName="going")["QueueUrl"]
    async for bot in running(tmp_path, moto_url, f'[sqs]\nqueue_url = "{url}"\n'):
        await bot.report_when(lambda r: r["queue"]["waiting"] == 0)
        sqs.delete_queue(QueueUrl=url)
        report = await bot.report_when(lambda r: "error" in r["queue"])
        assert "GetQueueAttributes" in report["queue"]["error"], report["queue"]
        assert report["queue"]["waiting"] is None
        assert report["status"] == "ok"  # the queue's trouble is no fault of this replica


async def test_the_leases_a_replica_holds_show_while_held_and_go_after(
    tmp_path: Path, moto_url: str
) -> None:
    """An alarm's root post held at Slack: its incident's root lease and the inbox claim show
    in ``/healthz`` and ``/metrics`` while Slack keeps the post waiting, and are gone after."""
    async for bot in running(tmp_path, moto_url, ""):
        slack = bot.slack
        slack.hold("chat.postMessage")
        envelope = notification(message_id="alarm-1")
        assert bot.app.inbox is not None
        assert await bot.app.inbox.accept("alarm-1", "sns", json.dumps(envelope))
        # Slack holds the root post (it is recorded when answered): the root lease is held.
        report = await bot.report_when(lambda r: r["leases"]["held"].get("incident-root") == 1)
        assert slack.calls_to("chat.postMessage") == []
        leases = report["leases"]
        assert leases["held"] == {"inbox-claim": 1, "incident-root": 1}
        names = [held["name"] for held in leases["oldest"]]
        assert names[0] == "inbox-claim:alarm-1"  # claimed first, then the root lease taken
        assert names[1].startswith("incident-root:123456789012/us-east-1/prod-api-5xx@")
        for held in leases["oldest"]:
            assert held["since"] < held["until"] and held["held_s"] >= 0
        text = await bot.metrics()
        assert sample(text, "triagebot_leases_held", '{kind="incident-root"}') == 1
        assert sample(text, "triagebot_leases_held", '{kind="inbox-claim"}') == 1

        slack.release("chat.postMessage")
        after = await bot.report_when(lambda r: r["leases"]["oldest"] == [])
        assert after["leases"]["held"] == {"inbox-claim": 0, "incident-root": 0}
        assert "prod-api-5xx" in slack.messages("C0ALARMS")[0].text
        text = await bot.metrics()
        assert sample(text, "triagebot_leases_held", '{kind="incident-root"}') == 0


async def test_posts_slack_has_not_taken_show_as_the_outbox_backlog(
    tmp_path: Path, moto_url: str
) -> None:
    """Slack down: the alarm's root waits in the outbox, and ``/healthz`` and ``/metrics`` say
    how many posts wait and for how long; once Slack is back the root is posted and none wait."""
    async for bot in running(tmp_path, moto_url, ""):
        bot.slack.set_down(True)
        envelope = notification(message_id="alarm-2")
        assert bot.app.inbox is not None
        assert await bot.app.inbox.accept("alarm-2", "sns", json.dumps(envelope))
        report = await bot.report_when(lambda r: (r["outbox"]["pending"] or 0) >= 1)
        assert report["outbox"]["oldest_age_s"] >= 0
        assert sample(await bot.metrics(), "triagebot_outbox_pending") >= 1

        bot.slack.set_down(False)
        after = await bot.report_when(lambda r: r["outbox"]["pending"] == 0, readings=600)
        assert after["outbox"]["oldest_age_s"] == 0.0
        assert "prod-api-5xx" in bot.slack.messages("C0ALARMS")[0].text
