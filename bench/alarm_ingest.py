"""Benchmark: how fast does ``POST /sns`` accept and durably record signed alarms, and does an
alarm storm lose or double anything?

Runs ``triagebot serve`` as a subprocess against moto server (subprocess) and the fake Slack
Web API (in this process), with a loopback load generator (aiohttp, bounded in-flight):

  1. throughput: N signed notifications (distinct MessageIds; alarm *configuration change*
     events, recorded then ignored, so Slack pacing does not enter the figure) — requests/s
     and p50/p99 latency of the 200 (= recorded in SQLite, synced);
  2. storm: N notifications over 100 distinct alarms with duplicates mixed in — every
     MessageId recorded (zero lost), every alarm at most one root message (zero duplicate
     roots), all inbox rows done; how long after the last notification the storm message
     shows its final content (every alarm without a root of its own counted in it) and how
     many edits of it Slack received; resident memory of the server process (VmRSS, VmHWM).

Not a pass/fail test: machines here are shared and noisy.

    .venv/bin/python bench/alarm_ingest.py [--requests 2000] [--in-flight 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bot.demo.moto_server import LocalAws
from bot.demo.slack_api import FakeSlackApi
from tests.alarms.signing import alarm_message, notification, signer
from tests.support.serve_process import ServeProcess, serve_config

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "C0BENCH"


def config_change(i: int) -> str:
    """An EventBridge "Alarm Configuration Change": recorded, parsed, ignored."""
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CloudWatch Alarm Configuration Change",
            "source": "aws.cloudwatch",
            "account": "123456789012",
            "time": "2024-05-01T12:00:00Z",
            "region": "us-east-1",
            "resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:bench-{i}"],
            "detail": {"alarmName": f"bench-{i}", "operation": "update"},
        }
    )


class Server(ServeProcess):
    """``python -m bot serve`` with its own config, store and certificate."""

    def __init__(self, workdir: Path, moto_url: str, slack_url: str) -> None:
        self.db = workdir / "state.db"
        config, port = serve_config(workdir, channel=CHANNEL)
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "bench-secret",
            "SLACK_API_URL": slack_url,
            "AWS_ENDPOINT_URL": moto_url,
            "TRIAGEBOT_LOG_LEVEL": "WARNING",
        }
        super().__init__(config, port, env, workdir / "server.log")

    def inbox(self) -> dict[str, str]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            return dict(conn.execute("SELECT message_id, status FROM inbox").fetchall())


async def load(
    http: aiohttp.ClientSession, url: str, bodies: list[str], in_flight: int
) -> tuple[float, list[float], dict[int, int]]:
    """POST every body to /sns, ``in_flight`` at a time: (seconds, latencies, status counts)."""
    gate = asyncio.Semaphore(in_flight)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(body: str) -> None:
        async with gate:
            started = time.perf_counter()
            async with http.post(
                f"{url}/sns", data=body.encode(), headers={"Content-Type": "text/plain"}
            ) as response:
                await response.read()
                latencies.append(time.perf_counter() - started)
                statuses[response.status] = statuses.get(response.status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    return time.perf_counter() - started, latencies, statuses


def percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def throughput(moto_url: str, requests: int, in_flight: int) -> None:
    async with FakeSlackApi() as slack, aiohttp.ClientSession() as http:
        with tempfile.TemporaryDirectory() as tmp:
            server = Server(Path(tmp), moto_url, slack.base_url)
            await server.start()
            try:
                bodies = [signer().body(notification(config_change(i))) for i in range(requests)]
                ids = {json.loads(b)["MessageId"] for b in bodies}
                seconds, latencies, statuses = await load(http, server.url, bodies, in_flight)
                p50, p99 = percentiles(latencies)
                recorded = server.inbox()
                print(f"throughput: {requests} signed notifications, {in_flight} in flight")
                print(f"  statuses {statuses}")
                print(f"  {requests / seconds:.0f} accepted+recorded/s ({seconds:.2f} s)")
                print(f"  latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
                print(f"  recorded {len(ids & recorded.keys())} of {len(ids)} MessageIds")
                print(f"  server memory after: {server.memory()}")
            finally:
                server.stop()


STORM_COUNT = re.compile(r"Alarm storm: (\d+) alarms?")


def storm_state(slack: FakeSlackApi, names: list[str]) -> tuple[str, int, int]:
    """The storm message's ts, how many alarms it counts, and how many alarms it should count
    (those without a root message of their own)."""
    storm_ts, counted, own_roots = "", 0, set()
    for message in slack.messages(CHANNEL):
        found = STORM_COUNT.search(message.text)
        if found:
            storm_ts, counted = message.ts, int(found.group(1))
            continue
        text = message.text + json.dumps(list(message.blocks))
        own_roots |= {name for name in names if name in text}
    return storm_ts, counted, len(names) - len(own_roots)


async def storm_final(slack: FakeSlackApi, names: list[str], timeout: float) -> float | None:
    """When (monotonic) the storm message first counts every alarm it should; None if not
    within ``timeout``. Checked after every message posted or edited."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        ts, counted, expected = storm_state(slack, names)
        if ts and counted == expected:
            return time.monotonic()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            await slack.wait_for(
                lambda c: c.method in ("chat.update", "chat.postMessage"),
                timeout=remaining,
                since=seen,
            )
        except TimeoutError:
            return None
        seen = len(slack.calls)


def roots_per_alarm(slack: FakeSlackApi, names: list[str]) -> dict[str, int]:
    """How many top-level messages show each alarm (its own root, or the storm message)."""
    texts = [m.text + json.dumps(list(m.blocks)) for m in slack.messages(CHANNEL)]
    return {name: sum(f"{name}" in t for t in texts) for name in names}


async def storm(moto_url: str, requests: int, in_flight: int, timeout: float) -> None:
    alarms = [f"bench-alarm-{i:03d}x" for i in range(100)]
    rng = random.Random(42)
    unique = requests * 3 // 4
    bodies = []
    for i in range(unique):
        name = alarms[i % len(alarms)]
        # The same ALARM state change, published under several MessageIds.
        bodies.append(signer().body(notification(alarm_message(name), subject=None)))
    bodies += [rng.choice(bodies) for _ in range(requests - unique)]  # exact duplicates
    rng.shuffle(bodies)
    ids = {json.loads(b)["MessageId"] for b in bodies}
    async with FakeSlackApi() as slack, aiohttp.ClientSession() as http:
        with tempfile.TemporaryDirectory() as tmp:
            server = Server(Path(tmp), moto_url, slack.base_url)
            await server.start()
            try:
                seconds, latencies, statuses = await load(http, server.url, bodies, in_flight)
                last_notification = time.monotonic()
                p50, p99 = percentiles(latencies)
                final_at = await storm_final(slack, alarms, timeout)
                storm_ts, counted, expected = storm_state(slack, alarms)
                edits = [c for c in slack.calls_to("chat.update") if c.args.get("ts") == storm_ts]
                recorded = server.inbox()
                memory_at_peak = server.memory()
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    recorded = server.inbox()
                    if all(recorded.get(i) == "done" for i in ids):
                        break
                    await asyncio.sleep(1.0)
                drained = time.monotonic() - (deadline - timeout)
                per_alarm = roots_per_alarm(slack, alarms)
                top_level = len(slack.messages(CHANNEL))
                print(
                    f"storm: {requests} notifications over {len(alarms)} alarms "
                    f"({len(ids)} distinct MessageIds, {requests - len(ids)} duplicates)"
                )
                print(f"  statuses {statuses}")
                print(f"  {requests / seconds:.0f} accepted/s; p50 {p50:.1f} ms, p99 {p99:.1f} ms")
                print(f"  lost: {len(ids - recorded.keys())} (MessageIds not recorded)")
                done = sum(recorded.get(i) == "done" for i in ids)
                print(f"  inbox done: {done} of {len(ids)} after {drained:.0f} s")
                print(
                    f"  alarms shown more than once: {sum(n > 1 for n in per_alarm.values())}; "
                    f"never shown: {sum(n == 0 for n in per_alarm.values())}; "
                    f"top-level messages: {top_level}"
                )
                if final_at is None:
                    print(f"  storm message: counts {counted} of {expected} after {timeout:.0f} s")
                else:
                    print(
                        f"  storm message final ({counted} alarms) "
                        f"{final_at - last_notification:.2f} s after the last notification "
                        f"was answered ({seconds:.2f} s after the first); "
                        f"{len(edits)} edits of it reached Slack"
                    )
                print(f"  server memory after the burst: {memory_at_peak}")
                print(f"  server memory at the end: {server.memory()}")
            finally:
                server.stop()


async def main(args: argparse.Namespace) -> None:
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}")
    with LocalAws(in_process=False) as moto:
        await throughput(moto.url, args.requests, args.in_flight)
        moto.reset()
        await storm(moto.url, args.requests, args.in_flight, args.timeout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600, help="storm drain limit, s")
    parsed: Any = parser.parse_args()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    asyncio.run(main(parsed))
