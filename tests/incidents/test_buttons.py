"""Acknowledge, Mute 1h and Re-run on an incident's root message."""

from __future__ import annotations

from datetime import timedelta

from tests.incidents.conftest import CHANNEL, Build, button_body, make_alarm, shown


async def test_acknowledge_shows_who_on_the_root(build: Build) -> None:
    world = await build()
    alarm = make_alarm(world.clock.now - timedelta(minutes=3))
    await world.incidents.handle(alarm)

    await world.incidents.on_button(button_body("incident_ack", alarm.incident_key, user="W111"))

    [root] = world.roots()
    assert "Acknowledged by <@W111>" in shown(root)
    assert "Acknowledged by <@W111>" in root.text
    incident = await world.store.incident_get(alarm.incident_key)
    assert incident is not None and incident.acknowledged_by == "W111"
    assert not world.slack.ephemerals


async def test_muted_incident_only_replies_even_when_it_flaps(build: Build) -> None:
    world = await build()
    fired = world.clock.now - timedelta(minutes=3)
    alarm = make_alarm(fired)
    await world.incidents.handle(alarm)

    await world.incidents.on_button(button_body("incident_mute", alarm.incident_key))

    incident = await world.store.incident_get(alarm.incident_key)
    assert incident is not None and incident.muted_until == world.clock.now + timedelta(hours=1)
    [root] = world.roots()
    assert "Muted until" in shown(root)
    assert any("muted this incident" in m.text for m in world.thread(root))

    await world.incidents.handle(make_alarm(fired + timedelta(minutes=1)))
    await world.incidents.handle(make_alarm(fired + timedelta(minutes=2), "OK"))
    await world.incidents.handle(make_alarm(fired + timedelta(minutes=3), reason="flapping"))

    assert len(world.roots()) == 1, "no new root while muted"
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 1, "no playbook run while muted"
    replies = [m.text for m in world.thread(root)]
    assert any(r.startswith("🔴 Still in ALARM") for r in replies)
    assert any("ALARM again (muted until" in r and "flapping" in r for r in replies)
    reopened = await world.store.incident_get(alarm.incident_key)
    assert reopened is not None and reopened.is_open and reopened.root_ts == root.ts


async def test_mute_expires_after_an_hour(build: Build) -> None:
    world = await build()
    fired = world.clock.now - timedelta(minutes=3)
    alarm = make_alarm(fired)
    await world.incidents.handle(alarm)
    await world.incidents.on_button(button_body("incident_mute", alarm.incident_key))
    await world.incidents.handle(make_alarm(fired + timedelta(minutes=1), "OK"))

    world.clock.advance(timedelta(hours=1, minutes=1))
    await world.incidents.handle(make_alarm(world.clock.now))

    assert len(world.roots()) == 2


async def test_rerun_runs_the_routed_playbook_again_in_the_thread(build: Build) -> None:
    world = await build()
    alarm = make_alarm(world.clock.now - timedelta(minutes=3))
    await world.incidents.handle(alarm)

    await world.incidents.on_button(button_body("incident_rerun", alarm.incident_key))

    [root] = world.roots()
    runs = [m for m in world.thread(root) if "alarm triage (test)" in shown(m).lower()]
    assert len(runs) == 2
    assert "U0ONCALL" in shown(runs[1])  # asked by the person who pressed it
    sources = sorted(r.source for r in await world.store.recent_runs(CHANNEL, 10))
    assert sources == ["alarm", "button"]


async def test_buttons_outside_allowed_channels_are_refused_with_the_reason(build: Build) -> None:
    world = await build(allowed_channels=("C0OTHER",))
    alarm = make_alarm(world.clock.now - timedelta(minutes=3))
    await world.incidents.handle(alarm)

    await world.incidents.on_button(button_body("incident_ack", alarm.incident_key))
    await world.incidents.on_button(button_body("incident_rerun", alarm.incident_key))

    assert [e.user for e in world.slack.ephemerals] == ["U0ONCALL", "U0ONCALL"]
    assert all("not enabled in this channel" in e.text for e in world.slack.ephemerals)
    incident = await world.store.incident_get(alarm.incident_key)
    assert incident is not None and incident.acknowledged_by == ""
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 1


async def test_acknowledge_after_resolution_says_so(build: Build) -> None:
    world = await build()
    fired = world.clock.now - timedelta(minutes=3)
    alarm = make_alarm(fired)
    await world.incidents.handle(alarm)
    await world.incidents.handle(make_alarm(fired + timedelta(minutes=1), "OK"))

    await world.incidents.on_button(button_body("incident_ack", alarm.incident_key))

    [ephemeral] = world.slack.ephemerals
    assert "already resolved" in ephemeral.text


async def test_buttons_act_only_on_incidents_of_their_own_channel(build: Build) -> None:
    """The incident key is the alarm's, so guessable: a forged payload from another channel
    acknowledges, mutes and re-runs nothing there."""
    world = await build()
    alarm = make_alarm(world.clock.now - timedelta(minutes=3))
    await world.incidents.handle(alarm)
    for action in ("incident_ack", "incident_mute", "incident_rerun"):
        forged = button_body(action, alarm.incident_key, user="W0EVIL", channel="C0ELSEWHERE")
        await world.incidents.on_button(forged)

    incident = await world.store.incident_get(alarm.incident_key)
    assert incident is not None and incident.acknowledged_by in ("", None)
    assert incident.muted_until is None
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 1
    [root] = world.roots()
    assert "Acknowledged" not in shown(root) and "Muted" not in shown(root)
    refusals = [e for e in world.slack.ephemerals if e.channel == "C0ELSEWHERE"]
    assert len(refusals) == 3 and all("in this channel" in e.text for e in refusals)
