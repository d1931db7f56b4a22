"""The digest service: once per local day from the store's state, against moto and a fake Slack.

The clock is injected; the store is a real SQLite file; Slack is the local stand-in over HTTP.
The seeded bill (tests/digest/seed.py) is the one the digest of 2025-03-11 reports.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import boto3
import pytest
import requests
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import build_app
from bot.aws import AwsClients
from bot.config import AwsSettings, DigestSettings, load_settings
from bot.demo.moto_server import free_port
from bot.demo.slack_api import FakeSlackApi, SlackMessage
from bot.demo.slack_model import blocks_text
from bot.digest.schedule import (
    LAST_POSTED,
    Attempts,
    attempts_key,
    cron_trigger,
    digest_slot,
)
from bot.digest.service import DigestService
from bot.digest.slots import Claims
from bot.metrics import Metrics
from bot.outbound.outbox import Outbox
from bot.outbound.sender import SlackSender
from bot.store.sqlite import SqliteStore
from bot.timings import DEFAULTS
from tests.digest import seed
from tests.slack.harness import BOT_TOKEN, SIGNING_SECRET, Harness, write_config
from tests.slack.harness import CHANNEL as HARNESS_CHANNEL
from tests.support.aws_hooks import AwsFault, fake_operation

BERLIN = ZoneInfo("Europe/Berlin")
CHANNEL = "C0COSTS"
RETRY_AFTER = DEFAULTS.digest_retry_after
POST_DEADLINE = DEFAULTS.digest_post_deadline
DAY = seed.SENT_ON  # 2025-03-11: the digest reports 2025-03-10
ARN = "arn:aws:iam::123456789012:user/triagebot"
TITLE = "AWS spend for Mon 10 Mar 2025"
SETTINGS = DigestSettings(cron="0 9 * * *", timezone="Europe/Berlin", channel=CHANNEL)
TRIGGER = cron_trigger(SETTINGS.cron, SETTINGS.timezone)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def berlin(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


@dataclass
class World:
    aws: AwsClients
    slack: FakeSlackApi
    sender: SlackSender
    db: Path
    stores: list[SqliteStore]

    async def store(self) -> SqliteStore:
        """Another connection to the one SQLite file, as another process would open it."""
        store = SqliteStore(self.db)
        await store.start()
        self.stores.append(store)
        return store

    async def service(self, clock: Clock, owner: str = "one") -> DigestService:
        return (await self.process(clock, owner))[0]

    async def process(self, clock: Clock, owner: str = "one") -> tuple[DigestService, Outbox]:
        """The digest service of one process, and that process's outbox."""
        store = await self.store()
        outbox = Outbox(store, self.sender, Metrics(), owner, clock)
        claims = Claims(owner, clock)
        service = DigestService(
            SETTINGS, self.aws, store, self.sender, outbox, trigger=TRIGGER, claims=claims
        )
        return service, outbox

    def digests(self) -> list[SlackMessage]:
        return [m for m in self.slack.messages(CHANNEL) if m.text.startswith("AWS spend")]


@pytest.fixture
def aws(session: boto3.Session) -> Iterator[AwsClients]:
    fake_operation(session, "ce", "GetCostForecast", seed.FORECAST)
    fake_operation(session, "ce", "GetAnomalies", seed.ANOMALIES)
    clients = AwsClients(AwsSettings(), session_factory=lambda: session)
    yield clients
    clients.close()


@pytest.fixture(name="w")
async def world(aws: AwsClients, tmp_path: Path) -> AsyncIterator[World]:
    seed.seed_cost_and_usage(seed.daily_by_service(), seed.month_to_date())
    slack = FakeSlackApi()
    await slack.start()
    client = AsyncWebClient(token="xoxb-test", base_url=slack.base_url)
    w = World(aws, slack, SlackSender(client, Metrics()), tmp_path / "state.db", [])
    yield w
    for store in w.stores:
        await store.close()
    await slack.stop()


async def _posted_yesterday(w: World) -> None:
    store = await w.store()
    await store.schedule_set(LAST_POSTED, (DAY - timedelta(days=1)).isoformat())


async def test_restart_at_nine_twenty_after_being_down_at_nine_posts_once(w: World) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 20))
    service = await w.service(clock)

    assert await service.tick() == DAY
    clock.advance(timedelta(minutes=1))
    assert await service.tick() is None
    restarted = await w.service(clock, owner="after-restart")
    clock.advance(timedelta(minutes=20))
    assert await restarted.tick() is None

    [message] = w.digests()
    assert message.text.startswith(f"{TITLE}: $297.25")
    text = "\n".join(blocks_text(message.blocks))
    assert "Yesterday: $297.25" in text and "AWS Lambda" in text
    assert "Forecast for March: $8,031.12" in text
    # the chart went into the message's thread
    [reply] = w.slack.thread(CHANNEL, message.ts)
    [file] = [w.slack.files[f] for f in reply.file_ids]
    assert file.filename == "aws-spend-2025-03-10.png"
    assert file.content is not None and file.content.startswith(b"\x89PNG")
    assert await (await w.store()).schedule_get(LAST_POSTED) == DAY.isoformat()


async def test_restart_before_nine_posts_at_nine(w: World) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 8, 50))
    service = await w.service(clock)

    assert await service.tick() is None
    clock.now = berlin(DAY, 8, 59)
    assert await service.tick() is None
    assert w.digests() == []
    clock.now = berlin(DAY, 9, 0)
    assert await service.tick() == DAY
    assert len(w.digests()) == 1


async def test_a_server_started_the_next_day_posts_no_stale_digest(w: World) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 12, 1))  # the grace window closed at 12:00
    service = await w.service(clock)

    assert await service.tick() is None
    clock.now = berlin(DAY + timedelta(days=1), 8, 0)
    assert await service.tick() is None
    assert w.slack.calls_to("chat.postMessage") == []


async def test_two_processes_on_one_store_post_exactly_once(w: World) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 0))
    services = [await w.service(clock, owner=f"process-{n}") for n in range(4)]

    for _ in range(3):
        results = await asyncio.gather(*(s.tick() for s in services))
        clock.advance(timedelta(minutes=1))
        if any(results):
            assert results.count(DAY) == 1
    assert len(w.slack.calls_to("chat.postMessage")) == 1
    assert len(w.digests()) == 1


async def test_a_failed_post_is_retried_later_by_any_process_then_posted_once(w: World) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 0))
    first, second = await w.service(clock, owner="first"), await w.service(clock, owner="second")
    w.slack.fail_next("chat.postMessage", error="not_in_channel")

    assert await first.tick() is None
    assert w.digests() == []
    clock.advance(RETRY_AFTER - timedelta(minutes=1))
    assert await second.tick() is None  # not before the retry time
    clock.advance(timedelta(minutes=1))
    assert await second.tick() == DAY
    assert await first.tick() is None
    assert len(w.digests()) == 1
    assert [c.ok for c in w.slack.calls_to("chat.postMessage")] == [False, True]


async def test_an_attempt_whose_process_died_is_taken_over_after_the_deadline(w: World) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 0))
    store = await w.store()
    # a process claimed the first attempt, recorded it as started, then died
    assert await store.claim_once(Attempts().claim_key(digest_slot(DAY)), "dead", clock())
    await store.schedule_set(attempts_key(DAY), Attempts().started(clock()).encode())
    survivor = await w.service(clock, owner="survivor")

    clock.advance(POST_DEADLINE - timedelta(minutes=1))
    assert await survivor.tick() is None
    clock.advance(timedelta(minutes=1))
    assert await survivor.tick() == DAY
    assert len(w.digests()) == 1


async def test_a_digest_slack_did_not_take_is_posted_when_slack_is_back_with_its_chart(
    w: World,
) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 0))
    service, outbox = await w.process(clock)
    w.slack.set_down(True)

    assert await service.tick() == DAY, "the day's digest is the outbox's to post now"
    assert w.digests() == []
    clock.advance(timedelta(hours=2))
    assert await service.tick() is None, "no second digest while the first waits"
    w.slack.set_down(False)
    assert await outbox.deliver_due() == 1
    await outbox.settle()  # the chart follows the late digest

    [message] = w.digests()
    assert "Posted 2 h 0 m late: Slack was unreachable." in "\n".join(blocks_text(message.blocks))
    [reply] = w.slack.thread(CHANNEL, message.ts)
    [file] = [w.slack.files[f] for f in reply.file_ids]
    assert file.filename == "aws-spend-2025-03-10.png"
    assert await outbox.deliver_due() == 0
    assert len(w.digests()) == 1


async def test_a_take_over_after_slack_took_the_dead_processs_digest_adopts_it(w: World) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 0))
    store = await w.store()
    # A process claimed the attempt and posted the digest; it died before recording it.
    assert await store.claim_once(Attempts().claim_key(digest_slot(DAY)), "dead", clock())
    await store.schedule_set(attempts_key(DAY), Attempts().started(clock()).encode())
    _, dead_outbox = await w.process(clock, owner="dead")
    await dead_outbox.post(CHANNEL, f"{TITLE}: $297.25", delivery=f"digest:{DAY.isoformat()}")
    survivor = await w.service(clock, owner="survivor")

    clock.advance(POST_DEADLINE)
    assert await survivor.tick() == DAY

    [message] = w.digests()
    assert len(w.slack.calls_to("chat.postMessage")) == 1, "adopted, not posted again"
    [reply] = w.slack.thread(CHANNEL, message.ts)
    assert reply.file_ids, "the chart went into the adopted digest's thread"


async def test_a_failed_chart_upload_does_not_post_the_digest_again(w: World) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 0))
    service = await w.service(clock)
    w.slack.fail_next("files.getUploadURLExternal", error="internal_error")

    assert await service.tick() == DAY
    for _ in range(3):
        clock.advance(RETRY_AFTER)
        assert await service.tick() is None
    [message] = w.digests()
    assert w.slack.thread(CHANNEL, message.ts) == []


async def test_cost_explorer_not_enabled_still_posts_saying_what_is_missing(
    w: World, session: boto3.Session
) -> None:
    not_enabled = AwsFault("AccessDeniedException", "User not enabled for cost explorer access")
    fake_operation(session, "ce", "GetCostAndUsage", not_enabled)
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 5))
    service = await w.service(clock)

    assert await service.tick() == DAY
    [message] = w.digests()
    text = "\n".join(blocks_text(message.blocks))
    assert "Daily spend unavailable: Cost Explorer is not enabled for this account" in text
    assert "Yesterday's spend is unavailable" in text
    assert message.text == f"{TITLE}: daily spend unavailable."
    assert w.slack.thread(CHANNEL, message.ts) == []  # nothing to draw: no chart


async def test_the_scheduler_keeps_running_after_a_failed_digest(w: World) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 20))
    store = await w.store()
    service = DigestService(
        SETTINGS,
        w.aws,
        store,
        w.sender,
        Outbox(store, w.sender, Metrics(), "serve", clock),
        trigger=TRIGGER,
        claims=Claims("serve", clock, tick_every=timedelta(seconds=0.1)),
    )
    w.slack.fail_next("chat.postMessage", error="not_in_channel")  # refused, not kept
    await service.start()
    try:
        assert service.running
        # the start-up check finds the digest due (missed at 09:00) and fails to post it
        await w.slack.wait_for("chat.postMessage", timeout=10)
        record = Attempts.decode(await store.schedule_get(attempts_key(DAY)))
        for _ in range(100):
            if record.next == 1 and record.not_before == clock().astimezone(UTC) + RETRY_AFTER:
                break
            await asyncio.sleep(0.05)
            record = Attempts.decode(await store.schedule_get(attempts_key(DAY)))
        assert record.next == 1 and record.not_before == clock().astimezone(UTC) + RETRY_AFTER
        assert service.running
        # once the retry time passes, the periodic tick posts it
        clock.advance(RETRY_AFTER)
        since = len(w.slack.calls)
        await w.slack.wait_for(lambda c: c.method == "upload", timeout=10, since=since)
        assert len(w.digests()) == 1
        assert service.running
    finally:
        await service.stop()
    assert not service.running


async def test_post_on_demand_does_not_count_as_the_scheduled_digest(w: World) -> None:
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 0))
    service = await w.service(clock)

    await service.post("C0ELSEWHERE")
    [on_demand] = w.slack.messages("C0ELSEWHERE")
    assert on_demand.text.startswith(TITLE)
    assert len(w.slack.thread("C0ELSEWHERE", on_demand.ts)) == 1  # the chart
    assert await service.tick() == DAY


async def test_post_on_demand_logs_a_slack_failure_instead_of_raising(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    service = await w.service(Clock(berlin(DAY, 9, 0)))
    w.slack.fail_next("chat.postMessage", error="channel_not_found")

    await service.post("C0NOWHERE")

    assert "could not be posted to C0NOWHERE" in caplog.text
    assert w.slack.messages("C0NOWHERE") == []


async def test_text_for_the_cli(w: World) -> None:
    service = await w.service(Clock(berlin(DAY, 7, 0)))
    text = await service.text()
    assert text.startswith(f"{TITLE}\n")
    assert "Forecast for March: $8,031.12 ($5,600.12 forecast for the remaining 21 days)" in text


async def test_stop_lets_a_digest_being_posted_finish(w: World, session: boto3.Session) -> None:
    started = threading.Event()

    def slow_identity(request: dict[str, object]) -> dict[str, object]:
        started.set()
        time.sleep(1.0)  # on the AWS thread pool: the digest is still being built
        return {"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": ARN}

    fake_operation(session, "sts", "GetCallerIdentity", slow_identity)
    await _posted_yesterday(w)
    clock = Clock(berlin(DAY, 9, 20))
    service = await w.service(clock)
    await service.start()
    assert await asyncio.to_thread(started.wait, 10)

    await service.stop()

    assert not service.running
    assert len(w.digests()) == 1
    assert await (await w.store()).schedule_get(LAST_POSTED) == DAY.isoformat()


# The running app: /triage cost and /healthz, against moto server and the fake Slack over HTTP.


@pytest.fixture
async def app_with_digest(tmp_path: Path, moto_url: str) -> AsyncIterator[Harness]:
    requests.post(
        f"{moto_url}/moto-api/static/ce/cost-and-usage-results",
        json={"results": [seed.daily_by_service(), seed.month_to_date()]},
        timeout=5,
    ).raise_for_status()
    slack = FakeSlackApi()
    await slack.start()
    digest = f'[digest]\ncron = "0 9 * * *"\ntimezone = "Europe/Berlin"\nchannel = "{CHANNEL}"\n'
    settings = load_settings(
        write_config(tmp_path, digest),
        env={
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.base_url,
            "AWS_ENDPOINT_URL": moto_url,
        },
    )
    # 08:00 in Berlin on the morning of 2025-03-11: the scheduled digest is not due yet
    app = build_app(settings, clock=Clock(berlin(DAY, 8, 0)))
    runner = web.AppRunner(app.web, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as http:
        yield Harness(
            slack=slack,
            app=app,
            url=f"http://127.0.0.1:{port}",
            http=http,
            incident=None,  # type: ignore[arg-type]
        )
    await runner.cleanup()
    await slack.stop()


async def test_triage_cost_posts_the_digest_and_the_chart_into_the_channel(
    app_with_digest: Harness,
) -> None:
    h = app_with_digest
    status, reply = await h.command("cost", channel=HARNESS_CHANNEL)
    assert status == 200 and reply == {}
    await h.slack.wait_for(lambda c: c.method == "files.completeUploadExternal", timeout=60)

    [message] = h.slack.messages(HARNESS_CHANNEL)
    assert message.text == f"{TITLE}: $297.25 (+$62.50 (+27%) vs the day before)"
    text = "\n".join(blocks_text(message.blocks))
    assert "Yesterday: $297.25" in text and "AWS Lambda" in text
    [reply_message] = h.slack.thread(HARNESS_CHANNEL, message.ts)
    [file] = [h.slack.files[f] for f in reply_message.file_ids]
    assert file.filename == "aws-spend-2025-03-10.png" and file.completed
    # on demand only: the scheduled digest channel got nothing
    assert h.slack.messages(CHANNEL) == []


async def test_healthz_reports_the_scheduler_running(app_with_digest: Harness) -> None:
    async with app_with_digest.http.get(f"{app_with_digest.url}/healthz") as response:
        body = await response.json()
    assert response.status == 200
    assert body["status"] == "ok" and body["scheduler"] == "running"
    await app_with_digest.app.stop()
    assert (await app_with_digest.app.health())["scheduler"] == "off"
