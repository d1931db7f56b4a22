"""Benchmark: from a signed alarm POSTed to `triagebot serve` to a complete thread in Slack.

The path that matters at 3 a.m. A real `triagebot serve` process (SQLite store) gets signed
CloudWatch ALARM notifications on `POST /sns`, one at a time, each for its own alarm, routed to an
8-step playbook in a channel of its own (so Slack's per-channel pace never queues one alarm behind
another; the storm benchmark in `alarm_ingest.py` measures the crowded case). AWS is moto server behind a proxy that adds `--delay` (100 ms)
to every call. For each alarm it measures, from the POST:

- the root message in Slack,
- the run's final version (the message in the thread whose steps have all finished),
- the metric chart in the thread (the complete thread: everything an engineer reads),

and prints p50 and p99 over `--alarms` (50) alarms, next to the seed's runbook typed into the
`aws` CLI (`health describe-events`, `cloudwatch describe-alarms`, `cloudtrail lookup-events`)
against the same proxy in the same run. Goal: complete thread p50 under 1.5 s.

    .venv/bin/python bench/alarm_to_thread.py [--alarms 50] [--delay 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import boto3
import yaml

from bench.engine_concurrency import FIXTURES, aws_cli_runbook, steps_for
from bot.demo.moto_server import LocalAws
from bot.demo.seed import SeededIncident, seed_incident
from bot.demo.slack_api import FakeSlackApi, SlackMessage
from tests.alarms.signing import notification, signer
from tests.support.aws_proxy import SlowAws
from tests.support.serve_process import ServeProcess, serve_config

CHANNEL = "C0BENCH"


def alarm(name: str, incident: SeededIncident) -> str:
    """A CloudWatch ALARM on the seeded load balancer's 5xx count, changed just now."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
    return json.dumps(
        {
            "AlarmName": name,
            "AlarmDescription": "5xx from the web load balancer",
            "AWSAccountId": "123456789012",
            "NewStateValue": "ALARM",
            "NewStateReason": "Threshold Crossed: 1 datapoint [164.0] was greater than 50.0.",
            "StateChangeTime": now,
            "Region": "US East (N. Virginia)",
            "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
            "OldStateValue": "OK",
            "Trigger": {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Namespace": "AWS/ApplicationELB",
                "StatisticType": "Statistic",
                "Statistic": "SUM",
                "Dimensions": [{"value": incident.load_balancer_dimension, "name": "LoadBalancer"}],
                "Period": 60,
                "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 50.0,
                "TreatMissingData": "missing",
            },
        }
    )


def channel_of(name: str) -> str:
    """Each alarm posts in a channel of its own, as a quiet 3 a.m. channel would be: Slack's pace
    of about one post a second per channel (root, run, chart, output file) then never queues one
    alarm behind the one before, and what is timed is the bot's own path."""
    return f"{CHANNEL}{name.split('-')[1]}"


def serve(
    workdir: Path, incident: SeededIncident, aws_url: str, slack_url: str, names: list[str]
) -> ServeProcess:
    playbooks = workdir / "playbooks"
    playbooks.mkdir()
    book = {"name": "eight-steps", "timeout": "60s", "steps": steps_for(incident)}
    (playbooks / "eight-steps.yaml").write_text(yaml.safe_dump(book))
    routes = "\n".join(
        f'[[routes]]\nmatch = {{ alarm_name = "{name}" }}\nplaybook = "eight-steps"\n'
        f'channel = "{channel_of(name)}"'
        for name in names
    )
    config, port = serve_config(
        workdir,
        channel=CHANNEL,
        # one alarm at a time here: no storm coalescing
        extra=f'[playbooks]\ndirs = ["{playbooks}"]\n[alarms]\nstorm_threshold = 1000\n{routes}',
    )
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": "bench-secret",
        "SLACK_API_URL": slack_url,
        "AWS_ENDPOINT_URL": aws_url,
        "TRIAGEBOT_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    }
    return ServeProcess(config, port, env, workdir / "server.log")


def root_of(slack: FakeSlackApi, name: str) -> SlackMessage | None:
    return next((m for m in slack.messages(channel_of(name)) if name in m.text), None)


def finished(message: SlackMessage) -> bool:
    return "Finished in" in json.dumps(list(message.blocks), ensure_ascii=False)


async def one_alarm(
    http: aiohttp.ClientSession, server: ServeProcess, slack: FakeSlackApi, name: str, body: str
) -> tuple[float, float, float]:
    """POST one signed alarm; seconds to the root, the run's final version, the chart."""
    started = time.perf_counter()
    async with http.post(
        f"{server.url}/sns", data=body.encode(), headers={"Content-Type": "text/plain"}
    ) as response:
        assert response.status == 200, await response.text()
    seen: dict[str, float] = {}
    deadline = started + 60
    while len(seen) < 3 and time.perf_counter() < deadline:
        root = root_of(slack, name)
        now = time.perf_counter() - started
        if root is not None:
            seen.setdefault("root", now)
            replies = slack.thread(channel_of(name), root.ts)
            if any(finished(m) for m in replies):
                seen.setdefault("run", now)
            if any(m.file_ids for m in replies):
                seen.setdefault("chart", now)
        await asyncio.sleep(0.01)
    if len(seen) < 3:
        raise RuntimeError(f"{name}: incomplete thread after 60 s: {seen}\n{server.log_text()}")
    return seen["root"], seen["run"], seen["chart"]


def quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


async def main(args: argparse.Namespace) -> None:
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}  AWS delay: {args.delay}s")
    with LocalAws(in_process=False) as moto, tempfile.TemporaryDirectory() as tmp:
        incident = seed_incident(moto.url)
        logs = boto3.client("logs", endpoint_url=moto.url, region_name="us-east-1")
        logs.create_log_group(logGroupName="/aws/app/api")
        proxy = SlowAws(moto.url, delay=args.delay)
        for operation, fixture in (
            ("DescribeEvents", "health-describe-events-cli-example-1.json"),
            ("LookupEvents", "cloudtrail-lookup-events-cli-example-1.json"),
            ("DescribeAlarmHistory", "cloudwatch-describe-alarm-history-cli-example-1.json"),
        ):  # moto has none of them: answer with AWS's documented responses
            proxy.answer(operation, json.loads((FIXTURES / fixture).read_text()))
        proxy.start()
        try:
            async with FakeSlackApi() as slack, aiohttp.ClientSession() as http:
                names = [f"bench-{i:03d}-5xx" for i in range(args.alarms + 1)]
                server = serve(Path(tmp), incident, proxy.url, slack.base_url, names)
                await server.start()
                try:
                    results = []
                    for i, name in enumerate(names):  # the first one warms clients up
                        body = signer().body(notification(alarm(name, incident), subject=None))
                        timing = await one_alarm(http, server, slack, name, body)
                        if i:
                            results.append(timing)
                finally:
                    server.stop()
                    if os.environ.get("BENCH_LOG_LEVEL"):
                        print(server.log.read_text())
            cli = statistics.median(aws_cli_runbook(proxy.url) for _ in range(3))
        finally:
            proxy.stop()
    print(
        f"{args.alarms} alarms, one at a time, an 8-step playbook, +{args.delay * 1000:.0f} ms/AWS call"
    )
    for label, column in (
        ("root in Slack", 0),
        ("run's final version", 1),
        ("chart (complete)", 2),
    ):
        p50, p99 = quantiles([r[column] for r in results])
        print(f"  POST /sns → {label:<20} p50 {p50:.2f} s  p99 {p99:.2f} s")
    print(
        f"  the seed's runbook in the aws CLI (3 commands, no analysis): {cli:.2f} s (median of 3)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.1)
    asyncio.run(main(parser.parse_args()))
