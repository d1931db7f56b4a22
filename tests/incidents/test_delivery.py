"""The same alarm more than once, at once, or after Slack failed: one root per incident."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.errors import RetryLater
from tests.incidents.conftest import CHANNEL, Build, make_alarm


async def test_concurrent_copies_of_one_alarm_post_one_root(build: Build) -> None:
    world = await build()
    alarm = make_alarm(world.clock.now - timedelta(minutes=2))

    await asyncio.gather(*(world.incidents.handle(alarm) for _ in range(3)))

    [root] = world.roots()
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 1
    assert not any("Still in ALARM" in m.text for m in world.thread(root))


async def test_two_replicas_sharing_the_store_post_one_root_per_incident(build: Build) -> None:
    world = await build(storm_threshold=10)
    twin = world.replica()  # another process: its own locks, the same store and Slack
    when = world.clock.now - timedelta(minutes=2)
    alarms = [make_alarm(when, name=f"race-{n}") for n in range(6)]

    outcomes = await asyncio.gather(
        *(replica.handle(alarm) for alarm in alarms for replica in (world.incidents, twin) * 2),
        return_exceptions=True,
    )
    # A replica that finds another posting the root asks the inbox to look again later.
    assert all(o is None or isinstance(o, RetryLater) for o in outcomes), outcomes
    for alarm, outcome in zip([a for a in alarms for _ in range(4)], outcomes, strict=True):
        if isinstance(outcome, RetryLater):
            await twin.handle(alarm)  # the retry: the root is there by now, nothing new

    roots = world.roots()
    assert sorted(r.text.split(": ")[1] for r in roots) == [a.name for a in alarms]
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 6


async def test_root_post_failure_is_finished_by_the_next_delivery(build: Build) -> None:
    world = await build()
    alarm = make_alarm(world.clock.now - timedelta(minutes=2))
    world.slack.fail_next("chat.postMessage", error="channel_not_found")

    with pytest.raises(RetryLater, match="Slack did not take the root"):
        await world.incidents.handle(alarm)  # the inbox will call again

    assert world.roots() == []
    incident = await world.store.incident_get(alarm.incident_key)
    assert incident is not None and incident.root_ts == ""
    assert world.errors("slack") == 1

    await world.incidents.handle(alarm)  # SNS delivers it again

    [root] = world.roots()
    incident = await world.store.incident_get(alarm.incident_key)
    assert incident is not None and incident.root_ts == root.ts
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 1

    await world.incidents.handle(alarm)  # and once more: nothing new

    assert len(world.roots()) == 1
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 1


async def test_slack_down_then_a_later_alarm_posts_the_root(build: Build) -> None:
    world = await build()
    fired = world.clock.now - timedelta(minutes=2)
    world.slack.set_down(True)

    await world.incidents.handle(make_alarm(fired))  # the root waits in the outbox
    assert world.roots() == []

    world.slack.set_down(False)
    await world.incidents.handle(make_alarm(fired + timedelta(minutes=1), reason="still bad"))
    assert await world.incidents.outbox.deliver_due() == 1  # brought forward: due at once
    await world.incidents.outbox.settle()

    [root] = world.roots()
    incident = await world.store.incident_get(make_alarm(fired).incident_key)
    assert incident is not None and incident.root_ts == root.ts
    [run] = await world.store.recent_runs(CHANNEL, 10)
    assert run.thread_ts == root.ts and run.outcome != "running"
    assert world.errors("slack") >= 1


async def test_same_ok_twice_replies_once(build: Build) -> None:
    world = await build()
    fired = world.clock.now - timedelta(minutes=10)
    await world.incidents.handle(make_alarm(fired))
    ok = make_alarm(fired + timedelta(minutes=4), "OK")

    await world.incidents.handle(ok)
    await world.incidents.handle(ok)

    [root] = world.roots()
    assert sum("Resolved after 4m" in m.text for m in world.thread(root)) == 1
    assert "Resolved after 4m" in root.text


async def test_chart_upload_failure_leaves_the_thread_without_a_chart(build: Build) -> None:
    world = await build()
    cloudwatch = world.session.client("cloudwatch", region_name="us-east-1")
    alarm = make_alarm(world.clock.now - timedelta(minutes=2))
    cloudwatch.put_metric_data(
        Namespace=alarm.namespace,
        MetricData=[
            {
                "MetricName": alarm.metric_name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in alarm.dimensions.items()],
                "Timestamp": world.clock.now - timedelta(minutes=5),
                "Value": 30.0,
            }
        ],
    )
    world.slack.fail_next("files.getUploadURLExternal", error="not_allowed_token_type")

    await world.incidents.handle(alarm)

    [root] = world.roots()
    assert not any(m.file_ids for m in world.thread(root))
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 1
    assert world.errors("slack") == 1


async def test_ok_after_a_root_that_never_posted_posts_it_resolved(build: Build) -> None:
    world = await build()
    fired = world.clock.now - timedelta(minutes=10)
    world.slack.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(RetryLater):
        await world.incidents.handle(make_alarm(fired))

    await world.incidents.handle(make_alarm(fired + timedelta(minutes=6), "OK"))

    [root] = world.roots()
    assert root.text.startswith("✅ Resolved after 6m: prod-web-5xx")
    incident = await world.store.incident_get(make_alarm(fired).incident_key)
    assert incident is not None and incident.root_ts == root.ts and not incident.is_open


async def test_a_root_posted_late_opens_its_thread_with_the_history(build: Build) -> None:
    world = await build()
    earlier = world.clock.now - timedelta(hours=3)
    await world.incidents.handle(make_alarm(earlier))
    await world.incidents.handle(make_alarm(earlier + timedelta(minutes=20), "OK"))
    world.slack.set_down(True)
    fired = world.clock.now - timedelta(minutes=2)
    await world.incidents.handle(make_alarm(fired))  # the second incident's root waits

    world.slack.set_down(False)
    world.clock.advance(timedelta(minutes=10))  # past the outbox's backoff
    assert await world.incidents.outbox.deliver_due() == 1
    await world.incidents.outbox.settle()

    _, late = world.roots()
    first, *rest = world.thread(late)
    assert "*Seen before*" in first.text and "fired once" in first.text, first.text
    assert rest, "the run follows the history reply"
    [run, _] = await world.store.recent_runs(CHANNEL, 10)
    assert run.thread_ts == late.ts and run.outcome != "running"
