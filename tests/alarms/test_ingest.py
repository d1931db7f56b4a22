"""The alarm inbox on a real SQLite file: recorded first, handled once, redone after a crash."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.alarms.ingest import AlarmInbox, holder_is_gone
from bot.errors import RetryLater, SlackUnavailable
from bot.metrics import Metrics
from bot.store.sqlite import SqliteStore
from bot.tasks import TaskTracker

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """A ``process`` that remembers what it was given and can be told to fail or wait."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def __call__(self, body: str, message_id: str) -> None:
        self.seen.append((message_id, body))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("Slack is down")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    yield store
    await store.close()


def make_inbox(
    store: SqliteStore, process: Recorder, clock: Clock, owner: str = "host-a:1"
) -> tuple[AlarmInbox, TaskTracker]:
    tasks = TaskTracker()
    inbox = AlarmInbox(store, process, tasks, Metrics(), owner, clock, lease=LEASE, max_attempts=3)
    return inbox, tasks


async def settle(tasks: TaskTracker) -> None:
    assert await tasks.drain(5) == 0
    tasks.accepting = True


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_a_new_message_is_recorded_then_processed_and_done(store: SqliteStore) -> None:
    process, clock = Recorder(), Clock()
    inbox, tasks = make_inbox(store, process, clock)
    assert await inbox.accept("m-1", "sns", '{"x": 1}') is True
    # Recorded before accept returned, whatever the processing does later.
    item = await store.inbox_get("m-1")
    assert item is not None and item.body == '{"x": 1}' and item.source == "sns"
    await settle(tasks)
    assert process.seen == [("m-1", '{"x": 1}')]
    done = await store.inbox_get("m-1")
    assert done is not None and done.status == "done" and done.attempts == 1


async def test_a_duplicate_changes_nothing(store: SqliteStore) -> None:
    process, clock = Recorder(), Clock()
    inbox, tasks = make_inbox(store, process, clock)
    assert await inbox.accept("m-1", "sns", "first") is True
    await settle(tasks)
    assert await inbox.accept("m-1", "sqs", "second") is False
    await settle(tasks)
    assert process.seen == [("m-1", "first")]


async def test_three_concurrent_deliveries_are_processed_once(store: SqliteStore) -> None:
    process, clock = Recorder(), Clock()
    inbox, tasks = make_inbox(store, process, clock)
    answers = await asyncio.gather(*(inbox.accept("m-1", "sns", "body") for _ in range(3)))
    assert sorted(answers) == [False, False, True]
    await settle(tasks)
    assert process.seen == [("m-1", "body")]


async def test_two_inboxes_on_one_file_process_a_message_once(tmp_path: Path) -> None:
    """Two processes sharing the SQLite file: one claim wins."""
    one, two = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    await one.start()
    await two.start()
    process, clock = Recorder(), Clock()
    inbox_a, tasks_a = make_inbox(one, process, clock, "host-a:1")
    inbox_b, tasks_b = make_inbox(two, process, clock, "host-b:1")
    await one.inbox_add("m-1", "sqs", "body", START)
    await asyncio.gather(inbox_a.recover(), inbox_b.recover())
    await settle(tasks_a)
    await settle(tasks_b)
    assert process.seen == [("m-1", "body")]
    await one.close()
    await two.close()


async def test_a_failure_is_retried_after_the_lease_then_given_up(store: SqliteStore) -> None:
    process, clock = Recorder(), Clock()
    process.fail = True
    inbox, tasks = make_inbox(store, process, clock)
    await inbox.accept("m-1", "sns", "body")
    await settle(tasks)
    item = await store.inbox_get("m-1")
    assert item is not None and item.status == "processing" and item.attempts == 1
    assert await inbox.sweep() == 0  # the lease has not run out yet
    for attempt in (2, 3):
        clock.now += LEASE
        assert await inbox.sweep() == 1
        await settle(tasks)
        item = await store.inbox_get("m-1")
        assert item is not None and item.attempts == attempt
    assert item.status == "failed" and "Slack is down" in item.error
    clock.now += LEASE
    assert await inbox.sweep() == 0
    assert len(process.seen) == 3


async def test_a_retry_that_succeeds_finishes_the_message(store: SqliteStore) -> None:
    process, clock = Recorder(), Clock()
    process.fail = True
    inbox, tasks = make_inbox(store, process, clock)
    await inbox.accept("m-1", "sns", "body")
    await settle(tasks)
    process.fail = False
    clock.now += LEASE
    await inbox.sweep()
    await settle(tasks)
    item = await store.inbox_get("m-1")
    assert item is not None and item.status == "done" and item.attempts == 2


async def test_recover_takes_pending_and_dead_claims_but_not_live_ones(
    store: SqliteStore,
) -> None:
    host = socket.gethostname()
    for message_id in ("pending", "dead-here", "alive-elsewhere", "alive-here", "done"):
        await store.inbox_add(message_id, "sns", message_id, START)
    await store.inbox_claim("dead-here", f"{host}:{dead_pid()}", LEASE, START)
    await store.inbox_claim("alive-elsewhere", "other-host:1", LEASE, START)
    await store.inbox_claim("alive-here", f"{host}:{os.getpid()}", LEASE, START)
    await store.inbox_claim("done", "other-host:1", LEASE, START)
    await store.inbox_done("done")

    process, clock = Recorder(), Clock()
    inbox, tasks = make_inbox(store, process, clock, owner=f"{host}:{dead_pid()}")
    assert await inbox.recover() == 2
    await settle(tasks)
    assert sorted(mid for mid, _ in process.seen) == ["dead-here", "pending"]

    clock.now += LEASE  # other hosts' claims are taken once their lease runs out
    await inbox.sweep()
    await settle(tasks)
    assert sorted(mid for mid, _ in process.seen) == [
        "alive-elsewhere",
        "alive-here",
        "dead-here",
        "pending",
    ]


async def test_after_a_restart_with_the_same_owner_its_old_claims_are_redone(
    store: SqliteStore,
) -> None:
    """A container restarts as the same host:pid (pid 1): its own old claims are dead."""
    await store.inbox_add("m-1", "sns", "body", START)
    await store.inbox_claim("m-1", "box:1", LEASE, START)
    process, clock = Recorder(), Clock()
    inbox, tasks = make_inbox(store, process, clock, owner="box:1")
    assert await inbox.sweep() == 0  # while running, our own claims are live
    assert await inbox.recover() == 1
    await settle(tasks)
    assert process.seen == [("m-1", "body")]


async def test_a_message_in_flight_is_not_taken_twice_by_the_sweeper(store: SqliteStore) -> None:
    process, clock = Recorder(), Clock()
    process.gate = asyncio.Event()
    inbox, tasks = make_inbox(store, process, clock)
    await inbox.accept("m-1", "sns", "body")
    await asyncio.sleep(0.1)
    clock.now += 2 * LEASE  # a long run outlives its lease
    assert await inbox.sweep() == 0
    process.gate.set()
    await settle(tasks)
    assert len(process.seen) == 1


async def test_while_stopping_a_message_is_recorded_for_the_next_start(
    store: SqliteStore,
) -> None:
    process, clock = Recorder(), Clock()
    inbox, tasks = make_inbox(store, process, clock)
    await tasks.drain(1)
    assert await inbox.accept("m-1", "sns", "body") is True
    await asyncio.sleep(0.05)
    assert process.seen == []
    item = await store.inbox_get("m-1")
    assert item is not None and item.status == "pending"


def test_holder_is_gone_only_for_ended_processes_of_this_host() -> None:
    host = socket.gethostname()
    me = f"{host}:{os.getpid()}"
    assert holder_is_gone(f"{host}:{dead_pid()}", me) is True
    assert holder_is_gone(me, me) is False
    assert holder_is_gone(f"elsewhere:{dead_pid()}", me) is False
    assert holder_is_gone("no-pid", me) is False
    assert holder_is_gone(f"{host}:abc", me) is False


async def test_retry_later_calls_again_soon_without_waiting_for_the_lease(
    store: SqliteStore,
) -> None:
    calls: list[str] = []

    async def busy_once(body: str, message_id: str) -> None:
        calls.append(message_id)
        if len(calls) == 1:
            raise RetryLater("another worker is posting the root", timedelta(seconds=0.05))

    clock = Clock()
    tasks = TaskTracker()
    inbox = AlarmInbox(store, busy_once, tasks, Metrics(), "host-a:1", clock, lease=LEASE)
    await inbox.accept("m-1", "sns", "body")
    for _ in range(100):
        item = await store.inbox_get("m-1")
        if item is not None and item.status == "done":
            break
        await asyncio.sleep(0.02)
    assert calls == ["m-1", "m-1"]
    assert item is not None and item.status == "done" and item.attempts == 2
    await inbox.stop()


async def until_finished(store: SqliteStore, message_id: str) -> str:
    for _ in range(250):
        item = await store.inbox_get(message_id)
        if item is not None and item.status in ("done", "failed"):
            return item.status
        await asyncio.sleep(0.02)
    raise AssertionError(f"{message_id} not finished")


@pytest.mark.parametrize(("relevant", "outcome"), [(timedelta(hours=24), "done"), (None, "failed")])
@pytest.mark.parametrize(
    "busy",
    [
        SlackUnavailable("Slack did not take the storm message", timedelta(seconds=0.01)),
        RetryLater("another replica is posting the root", timedelta(seconds=0.01)),
    ],
    ids=["slack-down", "busy-elsewhere"],
)
async def test_retry_later_is_retried_past_max_attempts_while_relevant(
    store: SqliteStore, relevant: timedelta | None, outcome: str, busy: RetryLater
) -> None:
    calls: list[str] = []

    async def slack_down_five_times(body: str, message_id: str) -> None:
        calls.append(message_id)
        if len(calls) <= 5:
            raise busy

    clock = Clock()
    inbox = AlarmInbox(
        store,
        slack_down_five_times,
        TaskTracker(),
        Metrics(),
        "host-a:1",
        clock,
        lease=LEASE,
        max_attempts=3,
        slack_patience=(timedelta(seconds=0.05), relevant or timedelta(0)),
    )
    await inbox.accept("m-1", "sns", "body")

    assert await until_finished(store, "m-1") == outcome
    item = await store.inbox_get("m-1")
    assert item is not None
    if outcome == "done":
        assert item.attempts == 6 and len(calls) == 6  # past max_attempts = 3
    else:
        assert len(calls) == 3, "no longer relevant: max_attempts as for anything else"
    await inbox.stop()
