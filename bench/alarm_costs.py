"""Benchmark: what one alarm costs in calls (DynamoDB, SQS, other AWS, Slack) and how long it
takes from publish to its root message, with one replica and with three.

The fleet of ``tests/replicas``: real ``triagebot serve`` processes (each as its own host) on
one moto server (DynamoDB writes atomic), the alarm topic delivering to an SQS queue with raw
message delivery, one local Slack stand-in. Every replica's AWS calls go through a counting
proxy (``tests.support.aws_proxy.SlowAws``, no delay); the Slack stand-in records every call.
The benchmark's own calls (publishing, checking the table) go to moto directly, uncounted.

For each fleet size it first counts what the idle fleet calls for ``--idle`` seconds (long
polls, heartbeats, sweeps, the operator view), then publishes ``--alarms`` ALARM notifications
at once, each for its own alarm, spread over ``--channels`` channels (a route each, a one-call
playbook: ``sts.caller_identity``), waits until every alarm has its root and its run finished,
and prints the calls per alarm with the idle rate taken out, and publish → root p50 / max.

    .venv/bin/python bench/alarm_costs.py [--alarms 30] [--channels 10] [--idle 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3

from bot.demo.slack_api import FakeSlackApi
from tests.replicas.fleet import PLAYBOOKS, TABLE, Fleet, eventually, open_fleet
from tests.support.atomic_moto import atomic_moto
from tests.support.aws_proxy import SlowAws

DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "DescribeTable"}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
SQS = {"ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility"}


def config(fleet: Fleet, channels: int) -> str:
    routes = "".join(
        f'[[routes]]\nmatch = {{ alarm_name = "ch{c:02d}-*" }}\n'
        f'playbook = "calm-check"\nchannel = "C0CH{c:02d}"\n'
        for c in range(channels)
    )
    return f"""
[slack]
default_channel = "C0DEFAULT"
[server]
host = "127.0.0.1"
port = {{port}}
[sqs]
queue_url = "{fleet.queue_url}"
raw_delivery = true
[store]
url = "dynamodb://{TABLE}"
[alarms]
storm_threshold = 1000
[playbooks]
dirs = ["{PLAYBOOKS}"]
{routes}"""


def alarm(name: str) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
    return json.dumps(
        {
            "AlarmName": name,
            "AlarmDescription": "bench",
            "AWSAccountId": "123456789012",
            "NewStateValue": "ALARM",
            "NewStateReason": f"{name} went ALARM",
            "StateChangeTime": stamp,
            "Region": "US East (N. Virginia)",
            "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
            "OldStateValue": "OK",
            "Trigger": {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Namespace": "AWS/ApplicationELB",
                "StatisticType": "Statistic",
                "Statistic": "SUM",
                "Dimensions": [{"name": "LoadBalancer", "value": "app/web/0123456789abcdef"}],
                "Period": 60,
                "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 50.0,
            },
        }
    )


def split(calls: Counter[str]) -> dict[str, int]:
    reads = sum(n for op, n in calls.items() if op in DYNAMODB_READS)
    writes = sum(n for op, n in calls.items() if op in DYNAMODB_WRITES)
    sqs = sum(n for op, n in calls.items() if op in SQS)
    total = sum(calls.values())
    return {
        "dynamodb_reads": reads,
        "dynamodb_writes": writes,
        "sqs": sqs,
        "other_aws": total - reads - writes - sqs,
        "aws_total": total,
    }


async def measure(replicas: int, alarms: int, channels: int, idle: float) -> dict[str, object]:
    with atomic_moto() as moto, tempfile.TemporaryDirectory() as tmp:
        proxy = SlowAws(moto.url)
        proxy.start()
        try:
            async with FakeSlackApi() as slack:
                fleet = await open_fleet(moto.url, slack, Path(tmp))
                fleet.moto_url = proxy.url  # replicas call AWS through the counting proxy
                text = config(fleet, channels)
                try:
                    for n in range(replicas):
                        fleet.add_replica(f"replica-{n}", lambda p: text.replace("{port}", str(p)))
                    await asyncio.gather(*(r.start() for r in fleet.replicas))
                    return await _run(fleet, moto.url, proxy, slack, alarms, channels, idle)
                finally:
                    fleet.stop()
                    await fleet.store.close()
                    fleet.aws.close()
        finally:
            # Long polls the stopped replicas left in the proxy wait out their 20 s upstream.
            with contextlib.suppress(TimeoutError):
                proxy.stop()


async def _run(
    fleet: Fleet,
    moto_url: str,
    proxy: SlowAws,
    slack: FakeSlackApi,
    alarms: int,
    channels: int,
    idle: float,
) -> dict[str, object]:
    # The idle fleet: what it calls when nothing happens.
    await asyncio.sleep(2)  # start-up's own calls (table check, recover) settle
    before, slack_before = Counter(proxy.calls), len(slack.calls)
    await asyncio.sleep(idle)
    idle_calls = Counter(proxy.calls) - before
    idle_slack = len(slack.calls) - slack_before

    names = [f"ch{n % channels:02d}-svc-{n:03d}" for n in range(alarms)]
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=moto_url)  # uncounted
    before, slack_seen = Counter(proxy.calls), len(slack.calls)
    slack_at_start = slack_seen
    published: dict[str, float] = {}
    rooted: dict[str, float] = {}

    def publish() -> None:
        for name in names:
            published[name] = time.monotonic()
            sns.publish(TopicArn=fleet.topic_arn, Message=alarm(name))

    started = time.monotonic()
    publishing = asyncio.create_task(asyncio.to_thread(publish))

    async def roots_seen() -> bool:
        nonlocal slack_seen
        now = time.monotonic()
        for call in slack.calls[slack_seen:]:
            if call.method == "chat.postMessage" and not call.args.get("thread_ts"):
                text = json.dumps(call.args)
                for name in names:
                    if name not in rooted and name in text:
                        rooted[name] = now
        slack_seen = len(slack.calls)
        return len(rooted) == len(names)

    await eventually(roots_seen, timeout=600, what="every root")
    await publishing
    await eventually(fleet.idle, timeout=600, what="every alarm handled")
    elapsed = time.monotonic() - started
    calls = Counter(proxy.calls) - before
    slack_methods = Counter(call.method for call in slack.calls[slack_at_start:])

    rate = {op: n / idle for op, n in idle_calls.items()}
    background = Counter({op: round(r * elapsed) for op, r in rate.items()})
    per_alarm_calls = Counter({op: n for op, n in (calls - background).items() if n > 0})
    latencies = sorted(rooted[n] - published[n] for n in names)
    return {
        "replicas": len(fleet.replicas),
        "alarms": alarms,
        "channels": channels,
        "seconds": round(elapsed, 2),
        "idle_per_replica_per_minute": {
            k: round(v * 60 / idle / len(fleet.replicas), 1) for k, v in split(idle_calls).items()
        }
        | {"slack": round(idle_slack * 60 / idle / len(fleet.replicas), 1)},
        "idle_operations": dict(idle_calls),
        "per_alarm": {k: round(v / alarms, 2) for k, v in split(per_alarm_calls).items()}
        | {"slack": round(sum(slack_methods.values()) / alarms, 2)},
        "per_alarm_operations": {
            op: round(n / alarms, 2) for op, n in sorted(per_alarm_calls.items())
        },
        "slack_methods_per_alarm": {
            m: round(n / alarms, 2) for m, n in sorted(slack_methods.items())
        },
        "publish_to_root_p50_s": round(statistics.median(latencies), 2),
        "publish_to_root_max_s": round(latencies[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=30)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    # Fake credentials: every call goes to the local moto server.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    print(f"cores: {os.cpu_count()}")
    for replicas in args.replicas:
        result = asyncio.run(measure(replicas, args.alarms, args.channels, args.idle))
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
