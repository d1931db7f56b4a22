"""Benchmark: does a playbook of 8 independent steps take about as long as its slowest step?

Against moto server behind a proxy that adds 200 ms to every AWS call, it times, in one run:
  1. each step alone (the slowest is the floor for the playbook),
  2. the 8-step playbook (steps concurrent, as the executor runs them),
  3. the same steps one after another (a chain of `needs`),
  4. the seed runbook as an engineer types it: `aws health describe-events`,
     `aws cloudwatch describe-alarms --state-value ALARM`, `aws cloudtrail lookup-events`.
Prints the times and the ratios. Not a pass/fail test: machines here are shared and noisy.

    .venv/bin/python bench/engine_concurrency.py [--delay 0.2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3

from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.demo.moto_server import LocalAws
from bot.demo.seed import SeededIncident, seed_incident
from bot.executor import Executor
from bot.playbooks.schema import Playbook
from bot.steps import default_registry
from tests.support.aws_proxy import SlowAws

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "aws_responses"

for name, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(name, value)


def steps_for(incident: SeededIncident) -> list[dict[str, Any]]:
    return [
        {"id": "whoami", "uses": "sts.caller_identity"},
        {
            "id": "targets",
            "uses": "elbv2.target_health",
            "with": {"load_balancer": incident.load_balancer},
        },
        {"id": "alarms", "uses": "cloudwatch.alarms"},
        {
            "id": "metric",
            "uses": "cloudwatch.metric",
            "with": {
                "namespace": "AWS/ApplicationELB",
                "metric_name": "HTTPCode_Target_5XX_Count",
                "statistic": "Sum",
                "dimensions": {"LoadBalancer": incident.load_balancer_dimension},
            },
        },
        {
            "id": "instances",
            "uses": "ec2.instance_status",
            "with": {"instance_ids": list(incident.instances)},
        },
        {
            "id": "reach",
            "uses": "ec2.reachability",
            "with": {"instance_id": incident.instances[1], "port": 443},
        },
        {"id": "stacks", "uses": "cloudformation.stack_events"},
        {
            "id": "logs",
            "uses": "logs.filter",
            "with": {"log_group": "/aws/app/api", "pattern": "ERROR"},
        },
    ]


def playbook(name: str, steps: list[dict[str, Any]]) -> Playbook:
    return Playbook.model_validate({"name": name, "timeout": "5m", "steps": steps})


async def timed(executor: Executor, book: Playbook) -> float:
    started = time.perf_counter()
    result = await executor.run(book, {})
    elapsed = time.perf_counter() - started
    failed = [s.step_id for s in result.steps if s.status in ("error", "timeout")]
    if failed:
        print(f"  note: {book.name}: steps {failed} did not succeed", file=sys.stderr)
    return elapsed


def aws_cli_runbook(endpoint: str) -> float:
    commands = [
        ["aws", "health", "describe-events", "--region", "us-east-1"],
        ["aws", "cloudwatch", "describe-alarms", "--state-value", "ALARM"],
        ["aws", "cloudtrail", "lookup-events", "--max-results", "50"],
    ]
    env = {**os.environ, "AWS_PAGER": ""}
    aws = str(Path(sys.executable).parent / "aws")
    started = time.perf_counter()
    for command in commands:
        # --endpoint-url on every command: the CLI's Health client ignores AWS_ENDPOINT_URL.
        done = subprocess.run(
            [aws, *command[1:], "--endpoint-url", endpoint],
            env=env,
            capture_output=True,
            check=False,
        )
        if done.returncode:
            print(f"  note: {' '.join(command)} failed: {done.stderr[:200]!r}", file=sys.stderr)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with LocalAws(in_process=False) as moto:
        incident = seed_incident(moto.url)
        logs = boto3.client("logs", endpoint_url=moto.url, region_name="us-east-1")
        logs.create_log_group(logGroupName="/aws/app/api")
        proxy = SlowAws(moto.url, delay=args.delay)
        for operation, fixture in (
            ("DescribeEvents", "health-describe-events-cli-example-1.json"),
            ("LookupEvents", "cloudtrail-lookup-events-cli-example-1.json"),
        ):  # moto has neither: answer them with AWS's documented responses
            proxy.answer(operation, json.loads((FIXTURES / fixture).read_text()))
        proxy.start()
        aws = AwsClients(AwsSettings(), endpoint_url=proxy.url, max_workers=32)
        executor = Executor(default_registry(), aws)
        steps = steps_for(incident)
        await timed(executor, playbook("warm-up", steps))  # build clients, warm moto

        def median(values: list[float]) -> float:
            return statistics.median(values)

        singles = {
            step["id"]: median(
                [
                    await timed(executor, playbook(f"one-{step['id']}", [step]))
                    for _ in range(args.repeat)
                ]
            )
            for step in steps
        }
        proxy.calls.clear()
        concurrent = median(
            [await timed(executor, playbook("eight", steps)) for _ in range(args.repeat)]
        )
        calls_per_run = sum(proxy.calls.values()) / args.repeat
        chained = [
            dict(step, needs=[steps[i - 1]["id"]]) if i else step for i, step in enumerate(steps)
        ]
        sequential = median(
            [await timed(executor, playbook("chain", chained)) for _ in range(args.repeat)]
        )
        cli = median([aws_cli_runbook(proxy.url) for _ in range(args.repeat)])
        aws.close()
        proxy.stop()

    slowest_id = max(singles, key=lambda k: singles[k])
    slowest = singles[slowest_id]
    print(
        f"cores: {os.cpu_count()}  added latency per AWS call: {args.delay * 1000:.0f} ms  repeats: {args.repeat} (medians)"
    )
    print(f"AWS calls per 8-step run: {calls_per_run:.0f}")
    for step_id, seconds in singles.items():
        print(f"  step {step_id:<10} alone: {seconds:6.2f} s")
    print(f"slowest single step ({slowest_id}):   {slowest:6.2f} s")
    print(
        f"8 steps concurrently:            {concurrent:6.2f} s   ratio to slowest step: {concurrent / slowest:.2f}x (goal <= 1.3x)"
    )
    print(
        f"same steps one after another:    {sequential:6.2f} s   {sequential / concurrent:.1f}x the concurrent run"
    )
    print(
        f"aws CLI seed runbook (3 commands): {cli:6.2f} s   {cli / concurrent:.1f}x the concurrent run"
    )


if __name__ == "__main__":
    asyncio.run(main())
