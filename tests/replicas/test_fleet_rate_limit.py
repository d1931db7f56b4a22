"""CloudTrail LookupEvents stays within AWS's 2 requests a second per account and region when
three replicas run ``/triage recent-changes`` at once.

Three real ``triagebot serve`` processes reach AWS through a proxy (``tests.support.aws_proxy``)
that answers LookupEvents with a page that always has a next one (so each run reads its five
pages) and counts the calls per account, region and second. On the shared DynamoDB store the
replicas space their calls through one budget in the table (``bot/rate_limits.py``); each on
its own SQLite file, every process spaces only its own, and the account sees up to 6 a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.demo.slack_api import FakeSlackApi
from bot.demo.slack_requests import signed_headers, slash_command_body
from tests.replicas.fleet import SIGNING_SECRET, TABLE, Fleet, eventually, open_fleet
from tests.support.atomic_moto import atomic_moto
from tests.support.aws_proxy import SlowAws

CHANNEL = "C0RATE"
PAGES = 5  # cloudtrail.recent_changes reads at most five pages
LIMIT = 2  # LookupEvents: requests per second per account and region


@pytest.fixture
def proxy() -> Iterator[SlowAws]:
    with atomic_moto() as moto:
        aws = SlowAws(moto.url)
        aws.answer("LookupEvents", {"Events": [], "NextToken": "more"})
        aws.start()
        yield aws
        aws.stop()


@pytest.fixture
async def fleet(proxy: SlowAws, tmp_path: Path) -> AsyncIterator[Fleet]:
    async with FakeSlackApi() as slack:
        world = await open_fleet(proxy.url, slack, tmp_path)
        yield world
        world.stop()
        await world.store.close()
        world.aws.close()


def config(store_url: str, port: int) -> str:
    return f"""
[slack]
default_channel = "{CHANNEL}"
[server]
host = "127.0.0.1"
port = {port}
[store]
url = "{store_url}"
lease = "3s"
"""


async def three_run_recent_changes(fleet: Fleet, proxy: SlowAws, store_urls: list[str]) -> int:
    """Start three replicas, have each run ``/triage recent-changes`` at once, wait for the
    runs to end; the most LookupEvents calls the account saw in one second."""
    replicas = [
        fleet.add_replica(f"replica-{n}", lambda port, url=url: config(url, port))
        for n, url in enumerate(store_urls)
    ]
    await asyncio.gather(*(r.start() for r in replicas))

    async def command(url: str, user: str) -> int:
        body = slash_command_body("recent-changes", user=user, channel=CHANNEL)
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{url}/slack/events",
                data=body,
                headers=signed_headers(body, SIGNING_SECRET),
            ) as response,
        ):
            return response.status

    users = [f"U0ONCALL{n}" for n in range(len(replicas))]
    statuses = await asyncio.gather(
        *(command(r.url, u) for r, u in zip(replicas, users, strict=True))
    )
    assert statuses == [200] * len(replicas)
    expected = PAGES * len(replicas)
    await eventually(lambda: proxy.calls["LookupEvents"] >= expected, 60, "every page read")
    await eventually(fleet.idle, 30, "the runs ended")
    assert proxy.calls["LookupEvents"] == expected
    finals = [m for m in fleet.slack.messages(CHANNEL) if m.text.startswith("recent-changes:")]
    assert len(finals) == len(replicas), [m.text for m in fleet.slack.messages(CHANNEL)]
    return proxy.busiest_second("LookupEvents")


async def test_three_replicas_on_one_store_keep_to_two_lookups_a_second(
    fleet: Fleet, proxy: SlowAws
) -> None:
    busiest = await three_run_recent_changes(fleet, proxy, [f"dynamodb://{TABLE}"] * 3)
    print(f"\nshared budget: at most {busiest} LookupEvents in one second")
    assert busiest <= LIMIT, proxy.per_second


async def test_each_replica_on_its_own_limit_makes_the_account_exceed_it(
    fleet: Fleet, proxy: SlowAws, tmp_path: Path
) -> None:
    """The control: what the proxy sees when each process spaces only its own calls."""
    urls = [f"sqlite:///{tmp_path / f'replica-{n}.db'}" for n in range(3)]
    busiest = await three_run_recent_changes(fleet, proxy, urls)
    print(f"\nper-process limits: up to {busiest} LookupEvents in one second")
    assert busiest > LIMIT
