"""ALARM → root and thread; repeats, notes and OK in the thread; state by state-change time."""

from __future__ import annotations

from datetime import timedelta

from bot.alarms.model import Alarm, AlarmSource
from tests.incidents.conftest import ACCOUNT, CHANNEL, LB, REGION, Build, make_alarm, shown


def _put_5xx(world, count: int = 30) -> None:  # type: ignore[no-untyped-def]
    """Datapoints for the alarm's metric over the last ``count`` minutes, in moto."""
    cloudwatch = world.session.client("cloudwatch", region_name=REGION)
    now = world.clock.now
    cloudwatch.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Dimensions": [{"Name": "LoadBalancer", "Value": LB}],
                "Timestamp": now - timedelta(minutes=minute),
                "Value": float(5 + minute % 20),
            }
            for minute in range(1, count + 1)
        ],
    )


async def test_first_alarm_posts_root_runs_playbook_and_charts_in_thread(build: Build) -> None:
    world = await build()
    _put_5xx(world)
    alarm = make_alarm(world.clock.now - timedelta(minutes=1))

    await world.incidents.handle(alarm)

    [root] = world.roots()
    text = shown(root)
    assert "ALARM" in text and "prod-web-5xx" in text
    assert "greater than the threshold (10.0)" in text
    assert "AWS/ApplicationELB HTTPCode_Target_5XX_Count Sum > 10" in text
    assert f"{ACCOUNT} / {REGION}" in text
    assert (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#alarmsV2:alarm/prod-web-5xx" in text
    )
    assert "[Acknowledge] [Re-run] [Mute ▾]" in text
    buttons = [e for b in root.blocks if b["type"] == "actions" for e in b["elements"]]
    assert {b["action_id"]: b.get("value") for b in buttons} == {
        "incident_ack": alarm.incident_key,
        "incident_rerun": alarm.incident_key,
        "incident_mute": None,  # a select of durations: it acts on the root it is on
        "incident_more": None,  # the overflow menu (Timeline): it acts on the root it is on
    }
    [mute] = [b for b in buttons if b["action_id"] == "incident_mute"]
    assert [o["value"] for o in mute["options"]] == ["30m", "1h", "4h", "24h"]
    thread = world.thread(root)
    run_messages = [m for m in thread if "alarm triage (test)" in shown(m).lower()]
    assert len(run_messages) == 1
    assert run_messages[0].edits, "the run's message was filled in as the step finished"
    assert "whoami" in shown(run_messages[0])
    [chart] = [f for f in world.slack.files.values() if f.filename.endswith(".png")]
    assert chart.thread_ts == root.ts and chart.channel == CHANNEL
    assert chart.content is not None and chart.content.startswith(b"\x89PNG")
    incident = await world.store.incident_get(alarm.incident_key)
    assert incident is not None and incident.root_ts == root.ts and incident.is_open
    [run] = await world.store.recent_runs(CHANNEL, 10)
    assert run.source == "alarm" and run.thread_ts == root.ts


async def test_no_chart_without_a_single_metric_or_data(build: Build) -> None:
    world = await build()
    math = make_alarm(
        world.clock.now, name="math-alarm", namespace="", metric_name="", metric_summary="m1/m2"
    )
    silent = make_alarm(world.clock.now, name="quiet-alarm")  # nothing in moto for it

    await world.incidents.handle(math)
    await world.incidents.handle(silent)

    assert len(world.roots()) == 2
    assert not world.slack.files


async def test_repeat_alarm_only_replies_in_the_thread(build: Build) -> None:
    world = await build()
    first = world.clock.now - timedelta(minutes=5)
    await world.incidents.handle(make_alarm(first))
    await world.incidents.handle(
        make_alarm(first + timedelta(minutes=1), reason="Threshold Crossed: [55.0] again")
    )

    [root] = world.roots()
    assert any(
        "Still in ALARM: Threshold Crossed: [55.0] again" in m.text for m in world.thread(root)
    )
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 1


async def test_ok_replies_edits_root_resolved_and_next_alarm_opens_a_new_incident(
    build: Build,
) -> None:
    world = await build()
    opened = world.clock.now - timedelta(minutes=30)
    alarm = make_alarm(opened)
    await world.incidents.handle(alarm)
    ok = make_alarm(opened + timedelta(minutes=14), "OK", reason="Threshold Crossed: [2.0] ok")

    await world.incidents.handle(ok)

    [root] = world.roots()
    assert "Resolved after 14m" in root.text
    assert "Resolved after 14m" in shown(root)
    assert root.edits
    assert any("OK" in m.text and "Resolved after 14m" in m.text for m in world.thread(root))
    incident = await world.store.incident_get(alarm.incident_key)
    assert incident is not None and incident.resolved_at == ok.changed_at
    assert "[Acknowledge]" not in shown(root)

    await world.incidents.handle(make_alarm(opened + timedelta(minutes=20)))

    roots = world.roots()
    assert len(roots) == 2
    assert "Resolved" not in roots[1].text
    assert len(await world.store.recent_runs(CHANNEL, 10)) == 2


async def test_ok_before_its_alarm_opens_nothing(build: Build) -> None:
    world = await build()
    fired = world.clock.now - timedelta(minutes=10)
    ok = make_alarm(fired + timedelta(minutes=3), "OK")

    await world.incidents.handle(ok)  # delivered first
    await world.incidents.handle(make_alarm(fired))  # the older ALARM, delivered late

    assert world.roots() == []
    assert await world.store.incident_get(ok.incident_key) is None

    await world.incidents.handle(make_alarm(fired + timedelta(minutes=5)))  # a newer one does

    assert len(world.roots()) == 1


async def test_older_message_changes_nothing(build: Build) -> None:
    world = await build()
    fired = world.clock.now - timedelta(minutes=10)
    await world.incidents.handle(make_alarm(fired))
    await world.incidents.handle(make_alarm(fired - timedelta(minutes=2), "OK"))

    [root] = world.roots()
    assert "Resolved" not in root.text and not root.edits
    incident = await world.store.incident_get(make_alarm(fired).incident_key)
    assert incident is not None and incident.is_open


async def test_insufficient_data_is_a_note_and_the_incident_stays_open(build: Build) -> None:
    world = await build()
    fired = world.clock.now - timedelta(minutes=10)
    await world.incidents.handle(make_alarm(fired))
    await world.incidents.handle(
        make_alarm(fired + timedelta(minutes=2), "INSUFFICIENT_DATA", reason="no datapoints")
    )

    [root] = world.roots()
    assert any("INSUFFICIENT_DATA: no datapoints" in m.text for m in world.thread(root))
    assert not root.edits
    incident = await world.store.incident_get(make_alarm(fired).incident_key)
    assert incident is not None and incident.is_open and incident.state == "INSUFFICIENT_DATA"


async def test_health_event_opens_and_closes_like_an_alarm(build: Build) -> None:
    world = await build()
    start = world.clock.now - timedelta(minutes=40)

    def event(state: str) -> Alarm:
        return Alarm(
            source=AlarmSource.HEALTH,
            name="AWS_EC2_OPERATIONAL_ISSUE",
            state=state,
            reason="Increased API error rates in us-east-1.",
            account=ACCOUNT,
            region=REGION,
            changed_at=start,
            service="EC2",
        )

    await world.incidents.handle(event("open"))
    [root] = world.roots()
    assert "AWS Health event open" in shown(root) and "EC2" in shown(root)
    assert "health.console.aws.amazon.com" in shown(root)
    runs = await world.store.recent_runs(CHANNEL, 10)
    assert [r.playbook for r in runs] == ["health"]

    await world.incidents.handle(event("closed"))

    [root] = world.roots()
    assert root.text.startswith("✅")
    incident = await world.store.incident_get(event("open").incident_key)
    assert incident is not None and not incident.is_open


async def test_notification_is_posted_plainly_and_cut_to_fit(build: Build) -> None:
    world = await build()
    note = Alarm(source=AlarmSource.NOTIFICATION, name="Backup finished", text="line\n" * 2000)

    await world.incidents.post_notification(note)

    [message] = world.roots()
    assert message.text.startswith("*Backup finished*\nline")
    assert len(message.text) <= 3000 and "more lines" in message.text
