"""Several real ``triagebot serve`` processes on AWS's own shared parts, and the test's view of them.

One moto server (its own process, DynamoDB writes atomic: ``tests.support.atomic_moto``) holds
the DynamoDB table, the alarm topic and an SQS queue subscribed to it with raw message delivery;
every replica polls that queue, keeps its state in that table and posts to one local Slack
stand-in. Each replica runs as if on its own host (``tests.support.replica_main``), so a dead
one's work is taken over the way a real fleet does it, not by a pid check on a shared host.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import boto3

from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.demo.moto_server import free_port
from bot.demo.slack_api import FakeSlackApi
from bot.store.base import InboxItem
from bot.store.dynamodb import DynamoDbStore
from tests.support.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parent.parent.parent
PLAYBOOKS = ROOT / "tests" / "fixtures" / "playbooks" / "replicas"
TABLE = "triagebot-replicas"
REGION = "us-east-1"
ACCOUNT = "123456789012"
SIGNING_SECRET = "replica-test-secret"
BOT_TOKEN = "xoxb-replica-test"


def incident_key(alarm_name: str) -> str:
    return f"{ACCOUNT}/{REGION}/{alarm_name}"


class Replica(ServeProcess):
    """One ``triagebot serve`` of the fleet, on its own port and (pretend) host."""

    def __init__(self, name: str, config: Path, port: int, env: dict[str, str], log: Path):
        command = [sys.executable, "-m", "tests.support.replica_main", name]
        command += ["serve", "--config", str(config)]
        super().__init__(config, port, env, log, command=command)
        self.name = name

    @property
    def owner(self) -> str:
        """How this process names itself in the store (inbox claims): ``host:pid``."""
        assert self.process is not None
        return f"{self.name}:{self.process.pid}"

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/healthz") as response:
            report: dict[str, Any] = await response.json()
            return report


@dataclass
class Fleet:
    """The shared AWS parts, the Slack stand-in, and the replicas (not started)."""

    moto_url: str
    slack: FakeSlackApi
    aws: AwsClients
    store: DynamoDbStore  # the test's own client of the shared table
    topic_arn: str
    queue_url: str
    tmp: Path
    replicas: list[Replica] = field(default_factory=list)

    def add_replica(self, name: str, config_text: Callable[[int], str]) -> Replica:
        """A replica whose config is ``config_text(port)``."""
        port = free_port()
        config = self.tmp / f"{name}.toml"
        config.write_text(config_text(port))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.base_url,
            "AWS_ENDPOINT_URL": self.moto_url,
            "TRIAGEBOT_LOG_LEVEL": "INFO",
        }
        replica = Replica(name, config, port, env, self.tmp / f"{name}.log")
        self.replicas.append(replica)
        return replica

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()

    def sns(self) -> Any:
        return boto3.client("sns", region_name=REGION, endpoint_url=self.moto_url)

    async def unfinished(self) -> list[InboxItem]:
        return await self.store.inbox_unfinished()

    async def idle(self) -> bool:
        """Every alarm message done, nothing waiting in the outbox (claimed or not) and
        nothing in flight in any running replica."""
        if await self.unfinished():
            return False
        if (await self.store.outbox_backlog())[0]:
            return False
        running = [r for r in self.replicas if r.process is not None and r.process.poll() is None]
        reports = await asyncio.gather(*(r.health() for r in running))
        return all(report["runs_in_flight"] == 0 for report in reports)


async def open_fleet(moto_url: str, slack: FakeSlackApi, tmp: Path) -> Fleet:
    """The table (created by the store itself, before any replica starts), the topic and the
    queue, subscribed with raw message delivery."""
    aws = AwsClients(AwsSettings(region=REGION), endpoint_url=moto_url)
    store = DynamoDbStore(aws, TABLE)
    await store.start()
    sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_url)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_url)
    topic_arn = sns.create_topic(Name="alarms")["TopicArn"]
    # A message received by a replica that is killed before it deletes it is back this soon.
    queue_url = sqs.create_queue(QueueName="alarms", Attributes={"VisibilityTimeout": "2"})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return Fleet(moto_url, slack, aws, store, topic_arn, queue_url, tmp)


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], timeout: float, what: str = ""
) -> float:
    """Wait until ``check()`` is true; return how long that took. Polls every 0.1 s."""
    started = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout}s: {what or check}")
        await asyncio.sleep(0.1)


def published(fleet: Fleet, messages: list[str]) -> list[str]:
    """Publish each message to the topic (blocking; run it in a thread); their MessageIds."""
    sns = fleet.sns()
    return [
        str(sns.publish(TopicArn=fleet.topic_arn, Message=message)["MessageId"])
        for message in messages
    ]


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines
