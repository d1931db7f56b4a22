"""The root of an alarm's thread says what its run points at ("Likely: …") once the run has
finished, and keeps saying it through Acknowledge and OK; the run message opens with it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3

from bot.config import Route
from bot.demo.aws_hooks import fake_operation
from bot.demo.demo_aws import demo_session_factory
from bot.demo.seed import seed_incident
from bot.demo.slack_api import SlackMessage
from bot.incidents.messages import ACK_ACTION
from tests.incidents.conftest import CHANNEL, Build, World, button_body, make_alarm, shown

ROUTES = (Route(playbook="alb-likely"),)
SUSPECT = (
    "🧭 *Likely:* `deploy-pipeline/web-release-4711` changed target group `prod-web-tg` "
    "(ModifyTargetGroup; before it RegisterTargets) 18 min before the alarm; "
    "since then 2 of 3 targets fail health checks with 404"
)
NOTHING = (
    "🧭 No change in the last 1 h touches these resources; AWS Health is clear"
    " — from `changes`, `health`."
)


def _start() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _run_message(world: World, root: SlackMessage) -> SlackMessage:
    [run] = [m for m in world.thread(root) if "alb errors (test)" in shown(m).lower()]
    return run


def _first_section(message: SlackMessage) -> str:
    """The first section of a message: what a reader sees right under its header."""
    section = next(b for b in message.blocks if b["type"] == "section")
    return str(section["text"]["text"])


async def test_the_root_names_the_change_after_the_run_and_keeps_it_through_ack_and_ok(
    build: Build, aws: None
) -> None:
    seeded = seed_incident(None)
    start = _start()
    world = await build(routes=ROUTES, aws_sessions=demo_session_factory(seeded, now=start))
    world.clock.now = start
    alarm = make_alarm(
        start, name=seeded.alarm_name, dimensions={"LoadBalancer": seeded.load_balancer_dimension}
    )

    await world.incidents.handle(alarm)

    [root] = world.roots()
    assert root.edits, "the root was edited once the run had finished"
    assert SUSPECT in shown(root)
    assert "Possible: an open AWS issue" not in shown(root), "the root shows the first line only"
    run = _run_message(world, root)
    assert _first_section(run).startswith(SUSPECT), "the run message opens with the suspect"
    assert "*Possible:* an open AWS issue, AWS_ELASTICLOADBALANCING_API_ISSUE" in shown(run)
    [record] = await world.store.recent_runs(CHANNEL, 10)
    details = await world.store.run_output(record.run_id)
    assert details is not None
    assert "Likely: `deploy-pipeline/web-release-4711` changed target group" in details

    await world.incidents.on_button(button_body(ACK_ACTION, alarm.incident_key))
    acknowledged = shown(world.roots()[0])
    assert "Acknowledged by <@U0ONCALL>" in acknowledged and SUSPECT in acknowledged

    world.clock.advance(timedelta(minutes=4))
    await world.incidents.handle(make_alarm(start + timedelta(minutes=4), "OK", name=alarm.name))
    resolved = shown(world.roots()[0])
    assert "Resolved after 4m" in resolved and SUSPECT in resolved


async def test_with_no_suspect_the_root_says_what_was_looked_at(
    build: Build, session: boto3.Session
) -> None:
    seeded = seed_incident(None)
    fake_operation(session, "cloudtrail", "LookupEvents", {"Events": []})
    fake_operation(session, "health", "DescribeEvents", {"events": []})
    world = await build(routes=ROUTES)
    alarm = make_alarm(world.clock.now, dimensions={"LoadBalancer": seeded.load_balancer_dimension})

    await world.incidents.handle(alarm)

    [root] = world.roots()
    assert NOTHING in shown(root)
    assert _first_section(_run_message(world, root)) == NOTHING


async def test_outside_text_in_the_line_reaches_the_root_escaped(
    build: Build, session: boto3.Session
) -> None:
    seeded = seed_incident(None)
    world = await build(routes=ROUTES)
    changed = world.clock.now - timedelta(minutes=7)
    who = "arn:aws:iam::123456789012:user/<!channel>"  # outside text: it must not ping anyone
    fake_operation(
        session,
        "cloudtrail",
        "LookupEvents",
        {
            "Events": [
                {
                    "EventId": "escape-1",
                    "EventName": "ModifyLoadBalancerAttributes",
                    "ReadOnly": "false",
                    "EventTime": changed,
                    "EventSource": "elasticloadbalancing.amazonaws.com",
                    "Resources": [
                        {
                            "ResourceType": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                            "ResourceName": seeded.load_balancer,
                        }
                    ],
                    "CloudTrailEvent": json.dumps(
                        {
                            "userIdentity": {"type": "IAMUser", "arn": who},
                            "eventTime": f"{changed:%Y-%m-%dT%H:%M:%SZ}",
                            "eventName": "ModifyLoadBalancerAttributes",
                            "readOnly": False,
                        }
                    ),
                }
            ]
        },
    )
    fake_operation(session, "health", "DescribeEvents", {"events": []})
    alarm = make_alarm(world.clock.now, dimensions={"LoadBalancer": seeded.load_balancer_dimension})

    await world.incidents.handle(alarm)

    [root] = world.roots()
    [line] = [
        b["text"]["text"] for b in root.blocks if "Likely" in b.get("text", {}).get("text", "")
    ]
    assert line.startswith("🧭 *Likely:* `&lt;!channel&gt;` changed")
    assert "<!channel>" not in json.dumps(root.blocks)
