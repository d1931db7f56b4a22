"""Two replicas on one store: the incident records they share stay whole under races."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot.incidents.changes import LAST_SEEN
from tests.incidents.conftest import Build, handled, make_alarm, shown


async def test_two_replicas_in_a_storm_list_every_coalesced_alarm(build: Build) -> None:
    world = await build(storm_threshold=1)
    other = world.replica()
    start = world.clock.now - timedelta(minutes=1)
    names = [f"svc-{n:02d}-5xx" for n in range(24)]
    alarms = [make_alarm(start + timedelta(seconds=n), name=m) for n, m in enumerate(names)]

    await asyncio.gather(
        *(handled((world.incidents, other)[n % 2], alarm) for n, alarm in enumerate(alarms))
    )

    storms = [r for r in world.roots() if "Alarm storm" in shown(r)]
    assert len(storms) == 1, "one storm message for the route"
    [storm] = storms
    own = {r.text.split(": ")[1] for r in world.roots() if r is not storm}
    assert len(own) == 1, f"the threshold's one own root, whichever replica decided: {own}"
    coalesced = [n for n in names if n not in own]
    listing = shown(storm)
    missing = [n for n in coalesced if n not in listing]
    assert missing == [], "every coalesced alarm is listed in the storm message"
    for alarm in alarms:
        if alarm.name in coalesced:
            incident = await world.store.incident_get(alarm.incident_key)
            assert incident is not None and incident.storm_root_ts == storm.ts
    replies = world.thread(storm)
    assert sorted(n for n in coalesced if any(n in m.text for m in replies)) == sorted(coalesced)


async def test_the_last_seen_time_never_goes_back_when_messages_race(build: Build) -> None:
    world = await build()
    other = world.replica()
    start = world.clock.now - timedelta(minutes=30)
    older = [make_alarm(start, name=f"flap-{n}") for n in range(12)]
    newer = [make_alarm(start + timedelta(minutes=5), "OK", name=f"flap-{n}") for n in range(12)]

    handled = []
    for n, (old, new) in enumerate(zip(older, newer, strict=True)):
        first, second = (world.incidents, other) if n % 2 else (other, world.incidents)
        handled += (
            [first.handle(old), second.handle(new)]
            if n % 3
            else [
                second.handle(new),
                first.handle(old),
            ]
        )
    await asyncio.gather(*handled)

    for new in newer:
        seen = await world.store.schedule_get(LAST_SEEN + new.incident_key)
        assert seen is not None
        assert new.changed_at is not None
        assert datetime.fromisoformat(seen) == new.changed_at, new.name
