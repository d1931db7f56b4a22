"""An alarm storm: past the threshold, new incidents share one storm message and thread."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest

from bot.alarms.model import Alarm
from bot.demo.slack_api import SlackMessage
from bot.errors import SlackUnavailable
from tests.incidents.conftest import CHANNEL, Build, World, handled, make_alarm, shown


async def test_storm_coalesces_alarms_past_the_threshold(build: Build) -> None:
    world = await build(storm_threshold=2)
    start = world.clock.now - timedelta(minutes=1)
    names = [f"svc-{n}-5xx" for n in range(5)]

    for offset, name in enumerate(names):
        await world.incidents.handle(make_alarm(start + timedelta(seconds=offset), name=name))

    roots = world.roots()
    assert len(roots) == 3
    own, storm = roots[:2], roots[2]
    assert [r.text.split(": ")[1] for r in own] == names[:2]
    listing = shown(storm)
    assert "Alarm storm" in listing and "not* run one by one" in listing
    for name in names[2:]:
        assert name in listing
    for name in names[:2]:
        assert name not in listing
    assert len(storm.edits) == 2, "the storm message is edited for each later alarm"
    replies = [m.text for m in world.thread(storm)]
    assert len(replies) == 3 and all(n in r for n, r in zip(names[2:], replies, strict=True))
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 2, "storm alarms are not run"
    coalesced = await world.store.incident_get(make_alarm(start, name=names[4]).incident_key)
    assert coalesced is not None and coalesced.storm_root_ts == storm.ts and not coalesced.root_ts


async def test_a_burst_opened_all_at_once_gives_the_threshold_its_own_roots(build: Build) -> None:
    # Every incident row exists before the first root is decided: counting rows would find
    # them all and give none its own root.
    world = await build(storm_threshold=5)
    other = world.replica()
    start = world.clock.now - timedelta(minutes=1)
    names = [f"burst-{n:02d}-5xx" for n in range(25)]
    alarms = [make_alarm(start + timedelta(seconds=n), name=m) for n, m in enumerate(names)]

    await asyncio.gather(
        *(handled((world.incidents, other)[n % 2], a) for n, a in enumerate(alarms))
    )

    [storm] = [r for r in world.roots() if "Alarm storm" in shown(r)]
    own = [r.text.split(": ")[1] for r in world.roots() if r is not storm]
    assert len(own) == 5, own
    listing = shown(storm)
    assert "20 more alarms" in listing
    assert [n for n in names if n in listing] == [n for n in names if n not in own]


async def test_storm_alarm_resolves_in_the_storm_thread(build: Build) -> None:
    world = await build(storm_threshold=1)
    start = world.clock.now - timedelta(minutes=5)
    await world.incidents.handle(make_alarm(start, name="first"))
    await world.incidents.handle(make_alarm(start, name="second"))

    await world.incidents.handle(make_alarm(start + timedelta(minutes=3), "OK", name="second"))

    [_, storm] = world.roots()
    assert any("Resolved after 3m" in m.text for m in world.thread(storm))
    assert "✅ *second*" in shown(storm)


async def test_alarms_outside_the_window_are_no_storm(build: Build) -> None:
    world = await build(storm_threshold=2)
    start = world.clock.now - timedelta(hours=1)

    for n in range(4):
        await world.incidents.handle(make_alarm(start + timedelta(minutes=5 * n), name=f"slow-{n}"))

    assert len(world.roots()) == 4
    assert not any("Alarm storm" in r.text for r in world.roots())


async def test_a_burst_of_storm_alarms_is_a_few_edits_ending_in_the_full_list(
    build: Build,
) -> None:
    # Two edits a second for the whole workspace: one edit per alarm would take 15 s.
    world = await build(storm_threshold=1, edits_per_minute=120.0, edit_burst=1)
    start = world.clock.now - timedelta(minutes=1)
    names = [f"burst-{n:02d}-5xx" for n in range(31)]
    await world.incidents.handle(make_alarm(start, name=names[0]))  # its own root
    loop = asyncio.get_running_loop()
    began = loop.time()

    await asyncio.gather(
        *(
            world.incidents.handle(make_alarm(start + timedelta(seconds=1), name=n))
            for n in names[1:]
        )
    )

    took = loop.time() - began
    [_, storm] = world.roots()
    assert "30 more alarms" in shown(storm), "the last version lists every alarm of the storm"
    assert len(storm.edits) < 10, f"{len(storm.edits)} edits for 29 joins: superseded ones went out"
    assert took < 12, f"joining took {took:.1f} s: each join waited for an edit of its own"
    assert len(world.thread(storm)) == 30, "each alarm still has its line in the thread"


async def one_root_then_the_storm(build: Build) -> tuple[World, Alarm]:
    """A route with a threshold of one, its first alarm handled (its own root): the world,
    and the second alarm, which starts the storm."""
    world = await build(storm_threshold=1)
    start = world.clock.now - timedelta(minutes=1)
    await world.incidents.handle(make_alarm(start, name="svc-0-5xx"))
    return world, make_alarm(start + timedelta(seconds=1), name="svc-1-5xx")


def lists_the_second(world: World, storm: SlackMessage) -> None:
    """The storm message lists the second alarm, and its thread has that alarm's line."""
    assert "svc-1-5xx" in shown(storm)
    [reply] = world.thread(storm)
    assert "svc-1-5xx" in reply.text


async def dies_while_slack_takes(world: World, alarm: Alarm, text: str) -> None:
    """The replica handling ``alarm`` dies (is cancelled) after Slack took its post containing
    ``text`` but before Slack's (late) answer came back."""
    world.slack.answer_late("chat.postMessage", 5)
    dying = asyncio.create_task(world.incidents.handle(alarm))
    await world.slack.wait_for(lambda c: text in str(c.args.get("text")), timeout=10)
    dying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await dying


async def test_a_storm_message_slack_did_not_take_is_asked_for_again_not_dropped(
    build: Build,
) -> None:
    world, second = await one_root_then_the_storm(build)
    world.slack.set_down(True)

    with pytest.raises(SlackUnavailable, match="storm message"):
        await world.incidents.handle(second)  # the inbox calls again while Slack is down

    world.slack.set_down(False)
    await world.incidents.handle(second)

    [_, storm] = world.roots()
    lists_the_second(world, storm)


async def test_a_storm_message_posted_by_a_replica_that_died_is_adopted_not_posted_again(
    build: Build,
) -> None:
    world, second = await one_root_then_the_storm(build)
    await dies_while_slack_takes(world, second, "Alarm storm")

    await handled(world.replica(), second)  # the inbox hands the alarm to another replica

    storms = [r for r in world.roots() if "Alarm storm" in shown(r)]
    assert len(storms) == 1, "the storm message was found, not posted again"
    assert world.slack.calls_to("conversations.history"), "looked for by its delivery id"
    [storm] = storms
    lists_the_second(world, storm)


async def test_an_alarm_given_its_own_root_keeps_it_when_retried_after_newer_alarms(
    build: Build,
) -> None:
    # The first alarm is given its own root, and its replica dies while posting it; two newer
    # alarms are decided meanwhile (the second its own root, the third the storm). Retried by
    # another replica, the first keeps its own root: newer decisions must not make it join.
    world = await build(storm_threshold=2)
    start = world.clock.now - timedelta(minutes=1)
    first, second, third = (
        make_alarm(start + timedelta(seconds=n), name=f"svc-{n}-5xx") for n in range(3)
    )
    await dies_while_slack_takes(world, first, "svc-0-5xx")
    other = world.replica()
    await handled(other, second)
    await handled(other, third)

    await handled(other, first)  # the inbox hands the first alarm to another replica

    roots = world.roots()
    [storm] = [r for r in roots if "Alarm storm" in shown(r)]
    own = sorted(r.text.split(": ")[1] for r in roots if r is not storm)
    assert own == ["svc-0-5xx", "svc-1-5xx"]
    assert "svc-2-5xx" in shown(storm) and "svc-0-5xx" not in shown(storm)
