"""Three ``triagebot serve`` processes share one alarm storm while one of them is killed.

Real parts throughout: moto server (its own process, DynamoDB writes atomic) holds the table,
the alarm topic and the queue; boto3 publishes CloudWatch alarm messages to the topic and moto's
SNS delivers them to the SQS queue (raw message delivery: moto 5 signs SQS envelopes with a
placeholder signature, which the bot rightly refuses; with ``[sqs] raw_delivery = true`` it takes
the CloudWatch JSON body and the queue is the trust boundary, as in the shipped stack). Three
replicas poll the queue, keep state in DynamoDB and post to one local Slack stand-in.

300 ALARM notifications over 30 alarms (ten copies of each state change, shuffled) go out, then
two copies of each OK. While the ALARMs are being handled one replica is SIGKILLed holding alarm
messages, and a new one starts in its place (a new task: a new host name). Then: one root per
incident, each resolved; each routed playbook run once per incident that has its own thread;
one storm message for the storming route; nothing missing and nothing posted twice; the
killed replica's work finished by the others within a bound set by ``[store] lease``; one digest
from the three.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.demo.slack_api import FakeSlackApi, SlackMessage
from bot.store.base import RunRecord
from tests.alarms.signing import alarm_message
from tests.replicas.fleet import (
    PLAYBOOKS,
    TABLE,
    Fleet,
    eventually,
    incident_key,
    open_fleet,
    published,
)
from tests.support.atomic_moto import atomic_moto

LEASE_S = 3  # [store] lease
STORM_THRESHOLD = 5
STORM_CHANNEL, CALM_CHANNEL, COST_CHANNEL = "C0STORM", "C0CALM", "C0COSTS"
STORMING = [f"storm-svc-{n:02d}" for n in range(25)]
CALM = [f"calm-svc-{n}" for n in range(5)]
COPIES = 10  # of each ALARM state change: 300 in all
OK_COPIES = 2


@pytest.fixture
def moto() -> Iterator[str]:
    with atomic_moto() as server:
        yield server.url


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


@pytest.fixture
async def fleet(moto: str, slack: FakeSlackApi, tmp_path: Path) -> AsyncIterator[Fleet]:
    world = await open_fleet(moto, slack, tmp_path)
    yield world
    world.stop()
    await world.store.close()
    world.aws.close()


def config(fleet: Fleet, digest_at: datetime) -> str:
    """Every replica's config but the port (``{port}``)."""
    return f"""
[slack]
default_channel = "{CALM_CHANNEL}"
[server]
host = "127.0.0.1"
port = {{port}}
[sqs]
queue_url = "{fleet.queue_url}"
raw_delivery = true
[store]
url = "dynamodb://{TABLE}"
lease = "{LEASE_S}s"
[alarms]
storm_threshold = {STORM_THRESHOLD}
storm_window = "10m"
[digest]
cron = "{digest_at:%M %H} * * *"
timezone = "UTC"
channel = "{COST_CHANNEL}"
[playbooks]
dirs = ["{PLAYBOOKS}"]
[[routes]]
match = {{ alarm_name = "storm-*" }}
playbook = "storm-check"
channel = "{STORM_CHANNEL}"
[[routes]]
match = {{ alarm_name = "calm-*" }}
playbook = "calm-check"
channel = "{CALM_CHANNEL}"
"""


def cloudwatch(name: str, state: str, changed_at: datetime) -> str:
    """A CloudWatch alarm message whose reason names the alarm (replies tell alarms apart)."""
    stamp = changed_at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    old = "OK" if state == "ALARM" else "ALARM"
    message = json.loads(alarm_message(name, state, changed_at=stamp, old_state=old))
    message["NewStateReason"] = f"{name} went {state} at {stamp}"
    return json.dumps(message)


def mentions(message: SlackMessage, name: str) -> bool:
    return f"*{name}*" in message.text or f" {name}" in message.text


async def test_three_replicas_share_a_storm_while_one_is_killed(
    fleet: Fleet, slack: FakeSlackApi
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    template = config(fleet, digest_at=now - timedelta(minutes=1))  # the digest is due now

    def with_port(port: int) -> str:
        return template.replace("{port}", str(port))

    replicas = [fleet.add_replica(f"replica-{n}", with_port) for n in range(3)]
    await asyncio.gather(*(r.start() for r in replicas))

    names = STORMING + CALM
    changed = {name: now - timedelta(seconds=60 - n) for n, name in enumerate(names)}
    alarms = [cloudwatch(n, "ALARM", changed[n]) for n in names for _ in range(COPIES)]
    random.Random(12).shuffle(alarms)
    publishing = asyncio.create_task(asyncio.to_thread(published, fleet, alarms))

    # Kill one replica while it holds claimed alarm messages (status processing, its owner).
    victim = replicas[0]
    held: list[str] = []

    async def victim_holds_work() -> bool:
        held[:] = [i.message_id for i in await fleet.unfinished() if i.owner == victim.owner]
        return bool(held)

    # The kill lands after the digest went out: a digest whose post Slack took but whose
    # process died before recording it is the one double post the digest allows (its docs).
    await eventually(lambda: bool(slack.messages(COST_CHANNEL)), timeout=30, what="the digest")
    await eventually(victim_holds_work, timeout=30, what="the victim claims alarm messages")
    victim.kill()
    killed_at = time.monotonic()
    dead_owner = victim.owner

    async def held_work(done: bool) -> bool:
        items = [await fleet.store.inbox_get(m) for m in held]
        if done:
            return all(i is not None and i.status == "done" for i in items)
        return all(i is not None and i.owner != dead_owner for i in items)

    async def watch_takeover() -> float:
        await eventually(lambda: held_work(done=False), timeout=60, what="its work taken over")
        return time.monotonic() - killed_at

    takeover = asyncio.create_task(watch_takeover())
    replacement = fleet.add_replica("replica-3", with_port)  # a new task, a new host
    await replacement.start()
    await publishing
    taken_over_s = await takeover
    # Done takes as long as Slack's pace: the fleet posts about one message a second per
    # channel, and the storm channel has some thirty to post.
    await eventually(fleet.idle, timeout=240, what="every ALARM handled")
    assert await held_work(done=True), "the killed replica's alarm messages were all handled"
    assert await fleet.store.inbox_failed_count() == 0, "no copy given up on while it waited"
    finished_s = time.monotonic() - killed_at

    oks = [cloudwatch(n, "OK", changed[n] + timedelta(seconds=30)) for n in names]
    await asyncio.to_thread(published, fleet, oks * OK_COPIES)

    async def all_resolved() -> bool:
        for name in names:
            incident = await fleet.store.incident_get(incident_key(name))
            if incident is None or incident.resolved_at is None:
                return False
        return await fleet.idle()

    await eventually(all_resolved, timeout=240, what="every incident resolved")
    logs = "\n".join(r.log_text() for r in fleet.replicas)

    # The killed replica's work was taken over within a bound set by the lease: its claims are
    # abandoned once its heartbeat is a lease old, and a sweep comes every half lease. Its
    # root and storm leases run out a lease after their last renewal, too.
    print(
        f"\nthe killed replica's {len(held)} alarm messages: taken over {taken_over_s:.1f}s "
        f"after the kill, all handled {finished_s:.1f}s after it ([store] lease = {LEASE_S}s)"
    )
    # Expected within 1.5 leases (measured 2.9 s idle, 5.6 s loaded); what it catches is work
    # left until its inbox claim runs out (minutes) or never taken over.
    assert taken_over_s < 4 * LEASE_S + 8, logs

    # Storming route: the threshold's own roots, the rest in one storm message.
    storm_top = slack.messages(STORM_CHANNEL)
    [storm] = [m for m in storm_top if "Alarm storm" in m.text]
    own = {
        name: [m for m in storm_top if m is not storm and mentions(m, name)] for name in STORMING
    }
    assert sum(1 for found in own.values() if found) == STORM_THRESHOLD
    listed = [name for name in STORMING if name in storm.text]
    for name in STORMING:
        assert len(own[name]) + (name in listed) == 1, f"{name}: one root or one storm entry"
    # Calm route: one root each, no storm.
    calm_top = slack.messages(CALM_CHANNEL)
    assert not any("Alarm storm" in m.text for m in calm_top)
    roots = {name: found[0] for name, found in own.items() if found}
    for name in CALM:
        [roots[name]] = [m for m in calm_top if mentions(m, name)]
    assert len(calm_top) == len(CALM), [m.text for m in calm_top]
    assert len(storm_top) == len(roots) - len(CALM) + 1

    # Every root shows its incident resolved, and its thread has the OK once.
    for name, root in roots.items():
        assert "Resolved" in root.text, root.text
        replies = slack.thread(root.channel, root.ts)
        assert sum(f"{name} went OK" in r.text for r in replies) == 1, (name, replies)
    # Every coalesced alarm has its entry reply and its OK in the storm thread, once each.
    storm_replies = slack.thread(STORM_CHANNEL, storm.ts)
    for name in listed:
        about = [r.text for r in storm_replies if name in r.text]
        assert sum(f"{name} went ALARM" in text for text in about) == 1, about
        assert sum(f"{name} went OK" in text for text in about) == 1, about

    # Nothing posted twice: no two messages alike at the top of a channel or in one thread.
    for channel in (STORM_CHANNEL, CALM_CHANNEL, COST_CHANNEL):
        top = slack.messages(channel)
        assert _twice([m.text for m in top]) == []
        for message in top:
            assert _twice([r.text for r in slack.thread(channel, message.ts)]) == [], message.text

    # Each incident with its own thread ran its route's playbook exactly once, to the end.
    runs: list[RunRecord] = []
    for channel in (STORM_CHANNEL, CALM_CHANNEL):
        runs += await fleet.store.recent_runs(channel, 500)
    # A run the killed replica was in the middle of is finished as interrupted and run again
    # in its thread (bot/run_recovery.py).
    interrupted = [run for run in runs if run.outcome == "error"]
    for run in interrupted:
        message = slack.message(run.channel, run.message_ts)
        assert message is not None and "interrupted" in message.text, run
    by_thread = Counter(run.thread_ts for run in runs if run.outcome != "error")
    for name, root in roots.items():
        assert by_thread[root.ts] == 1, (name, by_thread)
    assert len(runs) == len(roots) + len(interrupted), "no run for a coalesced alarm"
    for run in runs:
        expected = "storm-check" if run.channel == STORM_CHANNEL else "calm-check"
        assert run.playbook == expected and run.source == "alarm"
        assert run.finished_at is not None and run.outcome != "running", run

    # One digest from the three replicas (and the replacement, which found it posted).
    digests = slack.messages(COST_CHANNEL)
    assert len(digests) == 1, [m.text for m in digests]
    assert "xoxb-replica-test" not in logs and "replica-test-secret" not in logs


def _twice(texts: list[str]) -> list[str]:
    return [text for text, count in Counter(texts).items() if count > 1]
