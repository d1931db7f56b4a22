"""``[store] retention``: the store stays bounded while dedupe and open incidents hold.

SQLite: 5,000 alarm notifications through a real store file, an hour's retention, the clock
advanced half an hour per round; the file (with its write-ahead log) stops growing. DynamoDB
(moto): every item that should go carries its TTL time, and the table has TTL on it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pytest

from bot.app import build_app
from bot.config import CONFIG_TOML_ENV, Settings, load_settings
from bot.demo.slack_api import FakeSlackApi
from bot.errors import ConfigError
from bot.replicas import Heartbeat
from bot.store import SqliteStore
from bot.store.dynamodb_retention import TTL_ATTRIBUTE
from bot.store.retention import EXPIRED_LEASE_KEEP, Pruner, Retention
from bot.timings import Timings
from tests.store.helpers import T0, dynamodb_store, incident, run

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sns"
HOUR = Retention(keep=timedelta(hours=1), dedupe=timedelta(hours=2))
SLACK_ENV = {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": "s3cr3t"}
ROUNDS, PER_ROUND, STEP = 20, 250, timedelta(minutes=30)


def alarm_body(i: int) -> str:
    """A real SNS alarm notification, its Message padded to about 4 KB (as a long alarm
    description makes it), its MessageId made unique."""
    envelope = json.loads((FIXTURES / "docs-notification.json").read_text())
    envelope["MessageId"] = f"msg-{i:05d}"
    envelope["Message"] = envelope["Message"] + " " * 4000
    return json.dumps(envelope)


def load_settings_text(text: str) -> Settings:
    return load_settings(None, {CONFIG_TOML_ENV: text})


def file_bytes(path: Path) -> int:
    """The store's footprint on disk: the file and its write-ahead log."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


async def test_sqlite_stops_growing_and_still_dedupes(tmp_path: Path) -> None:
    path = tmp_path / "triagebot.db"
    store = SqliteStore(path)
    now = T0
    pruner = Pruner(store, HOUR, timedelta(hours=1), clock=lambda: now)
    await store.start()
    try:
        open_one = incident("acct/us-east-1/open", opened_at=T0)
        resolved_long_ago = incident(
            "acct/us-east-1/old", opened_at=T0, resolved_at=T0 + timedelta(minutes=5)
        )
        assert await store.incident_create(open_one)
        assert await store.incident_create(resolved_long_ago)

        sizes, written = [], 0
        for r in range(ROUNDS):
            for k in range(PER_ROUND):
                i = r * PER_ROUND + k
                body = alarm_body(i)
                written += len(body)
                assert await store.inbox_add(f"msg-{i:05d}", "sns", body, now)
                await store.inbox_done(f"msg-{i:05d}")
                if k % 10 == 0:  # a run (an alarm's playbook) and its full output
                    await store.record_run(run(f"run-{i}", started_at=now, outcome="ok"))
                    await store.save_output(f"run-{i}", "x" * 20_000)
                    written += 20_000
            grown = file_bytes(path)
            await pruner.prune_once()
            sizes.append(file_bytes(path))
            if r >= 3:  # the freed pages went back to the file system: the file shrank
                assert sizes[-1] < grown - PER_ROUND * 4000, (grown, sizes)
            now += STEP
        now -= STEP  # the time of the last round
        resolved_lately = incident(
            "acct/us-east-1/new", opened_at=now, resolved_at=now - timedelta(minutes=5)
        )
        assert await store.incident_create(resolved_lately)
        last = await pruner.prune_once()

        # Three rounds are kept (an hour back, inclusive): from the fourth on, the file stays.
        assert max(sizes[4:]) <= sizes[4] * 1.05, sizes
        assert sizes[-1] < written / 4, sizes  # far below what went in
        # Dedupe holds for a message past the retention (its body gone) but inside the window.
        recent = f"msg-{(ROUNDS - 4) * PER_ROUND:05d}"  # 1h30m old
        assert not await store.inbox_add(recent, "sns", alarm_body(0), now)
        kept = await store.inbox_get(recent)
        assert kept is not None and kept.body == "" and kept.status == "done"
        latest = await store.inbox_get(f"msg-{ROUNDS * PER_ROUND - 1:05d}")
        assert latest is not None and latest.body == alarm_body(ROUNDS * PER_ROUND - 1)
        assert await store.inbox_get("msg-00000") is None  # past the dedupe window: gone
        assert await store.get_run("run-0") is None and await store.run_output("run-0") is None
        newest_run = f"run-{(ROUNDS - 1) * PER_ROUND}"
        assert await store.run_output(newest_run) == "x" * 20_000
        # The open incident stays, however old; a resolved one only for the retention.
        assert await store.incident_get(open_one.key) == open_one
        assert await store.incident_get(resolved_long_ago.key) is None
        assert await store.incident_get(resolved_lately.key) == resolved_lately
        assert last.incidents == 0
    finally:
        await store.close()


async def test_a_store_file_from_before_is_switched_to_incremental_vacuum(tmp_path: Path) -> None:
    path = tmp_path / "triagebot.db"
    store = SqliteStore(path)
    await store.start()
    try:
        for i in range(200):
            await store.inbox_add(f"m{i}", "sns", "y" * 50_000, T0)
            await store.inbox_done(f"m{i}")
        before = file_bytes(path)
        pruned = await store.prune(HOUR.cutoffs(T0 + timedelta(hours=3)))
        assert pruned.messages == 200
        assert file_bytes(path) < before / 20  # the space went back to the file system
    finally:
        await store.close()


def test_retention_is_a_duration_of_at_least_an_hour() -> None:
    settings = load_settings_text('[store]\nretention = "7d"\n')
    assert settings.store.retention == timedelta(days=7)
    assert Settings().store.retention == timedelta(days=30)
    with pytest.raises(ConfigError, match="retention"):
        load_settings_text('[store]\nretention = "10m"\n')
    with pytest.raises(ConfigError, match="retention"):
        load_settings_text('[store]\nretention = "forever"\n')


def test_the_dedupe_window_covers_what_sns_and_sqs_may_redeliver() -> None:
    plain = Retention.from_settings(Settings())
    assert plain.keep == timedelta(days=30) and plain.inbox_keep == timedelta(days=30)
    short = Retention.from_settings(load_settings_text('[store]\nretention = "1h"\n'))
    assert short.inbox_keep == timedelta(hours=2)  # sns.max_age 1h, and a margin
    queued = Retention.from_settings(
        load_settings_text('[store]\nretention = "1h"\n[sqs]\nqueue_url = "https://q"\n')
    )
    assert queued.inbox_keep > timedelta(days=14)  # a queue keeps a message up to 14 days


# --- DynamoDB: TTL does the deleting ----------------------------------------------------------


def ttl_of(table: str, pk: str, sk: str) -> int | None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    item = client.get_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": sk}})["Item"]
    value = item.get(TTL_ATTRIBUTE)
    return int(value["N"]) if value else None


def epoch(when: datetime) -> int:
    return int(when.timestamp())


async def test_dynamodb_items_carry_their_expiry(session: boto3.Session) -> None:
    now = T0 + timedelta(days=2)
    store = dynamodb_store(session, retention=HOUR, clock=lambda: now)
    await store.start()
    try:
        client = session.client("dynamodb")
        ttl = client.describe_time_to_live(TableName=store.table)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL_ATTRIBUTE}

        await store.inbox_add("m1", "sns", alarm_body(1), now)
        await store.inbox_done("m1")
        await store.record_run(run("r1", started_at=now))
        await store.save_output("r1", "output")
        open_one = incident("acct/us-east-1/open", opened_at=T0)
        assert await store.incident_create(open_one)
        incident_pk, opened_sk = "INCIDENT#acct/us-east-1/open", f"AT#{epoch(T0) * 10**6:020d}"
        assert ttl_of(store.table, incident_pk, opened_sk) is None  # open: never expires
        assert ttl_of(store.table, incident_pk, "OPEN") is None
        assert await store.incident_update(replace(open_one, resolved_at=now), 0)

        hour, two_hours = 3600, 7200
        assert ttl_of(store.table, "INBOX#m1", "INBOX") == epoch(now) + two_hours
        assert ttl_of(store.table, "RUN#r1", "RUN") == epoch(now) + hour
        assert ttl_of(store.table, "OUTPUT#r1", "OUTPUT") == epoch(now) + hour
        assert ttl_of(store.table, incident_pk, opened_sk) == epoch(now) + hour  # resolved
        # Reopened, it keeps no expiry; the records still read back as they were written.
        assert await store.incident_update(replace(open_one, version=1), 1)
        assert ttl_of(store.table, incident_pk, opened_sk) is None
        assert await store.incident_get(open_one.key) == replace(open_one, version=2)
        assert await store.inbox_add("m1", "sns", alarm_body(1), now) is False  # still dedupes
    finally:
        await store.close()


async def test_serve_prunes_its_sqlite_store_every_interval(tmp_path: Path) -> None:
    """The composition root starts the pruner: ``build_app`` on a real file and the Slack
    stand-in; what was older than the retention is gone after a prune, the rest stays."""
    path = tmp_path / "state.db"
    seeded = SqliteStore(path)
    await seeded.start()
    await seeded.record_run(run("old", started_at=T0, outcome="ok"))
    await seeded.record_run(run("new", started_at=T0 + timedelta(days=6), outcome="ok"))
    await seeded.inbox_add("m-old", "sns", "{}", T0)
    await seeded.inbox_done("m-old")
    await seeded.close()
    async with FakeSlackApi() as slack:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[slack]\ndefault_channel = "C0ALARMS"\n'
            f'[store]\nurl = "sqlite:///{path}"\nretention = "5d"\n'
        )
        env = {**SLACK_ENV, "SLACK_API_URL": slack.base_url}
        app = build_app(
            load_settings(config, env=env),
            timings=Timings(prune_interval=timedelta(seconds=0.05)),
            clock=lambda: T0 + timedelta(days=7),
        )
        await app.start()
        try:
            assert app.pruner is not None
            await app.pruner.next_prune()
            assert await app.store.get_run("old") is None
            assert await app.store.inbox_get("m-old") is None
            assert await app.store.get_run("new") is not None
        finally:
            await app.stop()


# --- leases, heartbeats among them: gone an hour after they ran out ---------------------------


async def test_a_dead_replicas_heartbeat_goes_an_hour_after_it_ran_out(
    tmp_path: Path, session: boto3.Session
) -> None:
    """Whatever the retention (a year here): on SQLite the pruner deletes the row, on
    DynamoDB the item carries the TTL time; a live heartbeat stays, a stopped one is deleted."""
    lease, year = timedelta(seconds=60), Retention(keep=timedelta(days=365))
    sqlite = SqliteStore(tmp_path / "state.db")
    dynamodb = dynamodb_store(session, retention=year, clock=lambda: T0)
    for store in (sqlite, dynamodb):
        await store.start()
    try:
        for store in (sqlite, dynamodb):
            await Heartbeat(store, "dead-host:1", lease, lambda: T0).beat()  # then killed
            await Heartbeat(store, "live-host:2", lease, lambda: T0 + HOUR.keep).beat()
            stopped = Heartbeat(store, "gone-host:3", lease, lambda: T0)
            await stopped.beat()
            stopped.start()
            await stopped.stop()  # a clean stop deletes it
            assert await store.lease_acquire("replica:gone-host:3", "me", timedelta(0), T0)

        ran_out = T0 + lease
        pruned = await sqlite.prune(year.cutoffs(T0 + EXPIRED_LEASE_KEEP))
        assert pruned.leases == 0  # none ran out more than an hour ago
        pruned = await sqlite.prune(year.cutoffs(ran_out + EXPIRED_LEASE_KEEP + lease))
        assert pruned.leases == 2  # the dead one, and what asking about the stopped one left
        assert not await sqlite.lease_acquire("replica:live-host:2", "me", lease, ran_out)

        def ttl(owner: str) -> int | None:
            return ttl_of(dynamodb.table, f"LEASE#replica:{owner}", "LEASE")

        assert ttl("dead-host:1") == epoch(ran_out) + 3600
        assert ttl("live-host:2") == epoch(ran_out + HOUR.keep) + 3600
        assert ttl("gone-host:3") == epoch(T0) + 3600  # asked about with a lease of no time
    finally:
        for store in (sqlite, dynamodb):
            await store.close()
