"""Runbook and dashboard buttons: a route's and a playbook's ``runbook_url`` / ``dashboard_url``
templates, filled in with the alarm, as Block Kit ``url`` buttons on the incident's root and on
its run's final message — through the whole app (``build_app`` on a loopback port, a signed SNS
alarm, the Slack stand-in over HTTP, moto). A template that renders to no http(s) URL is left
out; one that could never be a URL is refused when the config loads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.config import Route, Settings, SlackSettings, load_settings
from bot.demo.slack_requests import button_payload, payload_body, signed_headers
from bot.incidents.links import AlarmLinks
from bot.loading import LoadFailed, load
from bot.playbooks.catalog import load_catalog
from bot.playbooks.loader import check_playbook
from bot.steps import default_registry
from tests.alarms.signing import notification, signer
from tests.alarms.sns_harness import CHANNEL, SLACK_ENV, SnsHarness, start_harness, write_config
from tests.incidents.conftest import LB, make_alarm
from tests.playbooks.fake_steps import fake_registry

ROUTES = """
[[routes]]
playbook = "alarm-default"
match = { alarm_name = "prod-api-*" }
runbook_url = "https://wiki.example.com/runbooks/{{ alarm.name }}?from=slack&lb={{ alarm.dimensions.LoadBalancer | urlencode }}"
dashboard_url = "{{ alarm.description }}"
"""


@pytest.fixture
async def harness(tmp_path: Path, moto_url: str) -> AsyncIterator[SnsHarness]:
    async for h in start_harness(tmp_path, moto_url, extra=ROUTES):
        yield h


def actions(message_blocks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for b in message_blocks if b.get("type") == "actions" for e in b["elements"]]


def label(element: Mapping[str, Any]) -> str:
    """A button's text, a select's placeholder, or ``⋯`` for the overflow menu."""
    if element["type"] == "overflow":
        return "⋯"
    return str((element.get("text") or element["placeholder"])["text"])


async def test_the_root_and_the_run_carry_the_routes_runbook_button(harness: SnsHarness) -> None:
    h = harness
    assert (await h.post(signer().body(notification(message_id="links-1"))))[0] == 200
    await h.settle()

    [root] = h.roots("prod-api-5xx")
    runbook = (
        "https://wiki.example.com/runbooks/prod-api-5xx?from=slack&lb=app/prod-api/50dc6c495c0c9188"
    )
    buttons = actions(root.blocks)
    assert [label(b) for b in buttons] == ["Acknowledge", "Re-run", "Mute", "Runbook", "⋯"]
    assert buttons[-2]["url"] == runbook and buttons[-2]["action_id"] == "link_runbook"
    # The dashboard template rendered to the alarm's description, no URL: no button for it.
    # The console link is still the root's own.
    assert "console.aws.amazon.com/cloudwatch" in json.dumps(root.blocks)
    assert "wiki.example.com" not in root.text + json.dumps(
        [b for b in root.blocks if b["type"] != "actions"]
    )

    [run] = [
        m
        for m in h.slack.thread(CHANNEL, root.ts)
        if m.metadata and m.metadata["event_payload"]["kind"] == "run"
    ]
    assert [label(b) for b in actions(run.blocks)] == ["Re-run", "Details", "Runbook"]
    assert actions(run.blocks)[-1]["url"] == runbook

    # Pressing it: Slack opens the link and tells the bot, which acks and does nothing more.
    pressed = payload_body(
        button_payload(
            buttons[-2], block_id="incident", user="U0ONCALL", channel=CHANNEL, message_ts=root.ts
        )
    )
    posted_before = len(h.slack.calls_to("chat.postMessage"))
    async with h.http.post(
        f"{h.url}/slack/events",
        data=pressed.encode(),
        headers=signed_headers(pressed, SLACK_ENV["SLACK_SIGNING_SECRET"]),
    ) as response:
        assert response.status == 200
    await h.settle()
    assert len(h.slack.calls_to("chat.postMessage")) == posted_before
    assert not h.slack.calls_to("chat.postEphemeral")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("javascript:alert(1)", "is not an http:// or https:// URL"),
        (
            "https://wiki/{{ alarm.nmae }}",
            "`alarm.nmae` is not an alarm field; did you mean `name`?",
        ),
        ("https://wiki/{{ params.x }}", "`params.x` is not a parameter"),
    ],
)
def test_a_route_link_that_can_never_be_a_url_is_refused_at_load(
    tmp_path: Path, url: str, problem: str
) -> None:
    extra = f'[[routes]]\nplaybook = "alarm-default"\nrunbook_url = "{url}"\n'
    settings = load_settings(write_config(tmp_path, extra=extra), env=SLACK_ENV)

    with pytest.raises(LoadFailed) as failed:
        load(settings, default_registry())

    [line] = failed.value.problems
    assert line.startswith(f"{tmp_path / 'config.toml'}:")
    assert "route 1's `runbook_url`" in line and problem in line


PLAYBOOK = """name: alb-links
runbook_url: "https://wiki.example.com/{{ alarm.name }}"
dashboard_url: "https://grafana.example.com/d/alb?lb={{ alarm.dimensions.LoadBalancer }}"
steps:
  - {id: a, uses: test.probe, with: {target: x}}
"""


def test_a_playbooks_links_are_checked_where_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nrunbook_url: ftp://wiki.example.com/x\n"
        "dashboard_url: '{{ alarm.dimension }}'\nsteps:\n  - {id: a, uses: test.probe, with: {target: x}}\n"
    )
    _, problems = check_playbook(path, fake_registry())
    assert [(p.line, p.message) for p in problems] == [
        (2, "`runbook_url`: `ftp://wiki.example.com/x` is not an http:// or https:// URL"),
        (3, "`dashboard_url`: `alarm.dimension` is not an alarm field; did you mean `dimensions`?"),
    ]


def test_a_routes_link_wins_over_its_playbooks_and_the_playbook_fills_the_rest(
    tmp_path: Path,
) -> None:
    (tmp_path / "alb-links.yaml").write_text(PLAYBOOK)
    catalog = load_catalog([tmp_path], fake_registry())
    route = Route(playbook="alb-links", runbook_url="https://runbooks.example.com/{{ alarm.name }}")
    settings = Settings(slack=SlackSettings(default_channel=CHANNEL), routes=(route,))
    alarm = make_alarm(datetime.now(UTC))

    links = AlarmLinks(settings, catalog)(alarm)

    assert [(link.label, link.url) for link in links] == [
        ("Runbook", "https://runbooks.example.com/prod-web-5xx"),
        ("Dashboard", f"https://grafana.example.com/d/alb?lb={LB}"),
    ]
    # An alarm without the dimension: that template fails for it, and only its button goes.
    bare = make_alarm(datetime.now(UTC), dimensions={})
    assert [link.label for link in AlarmLinks(settings, catalog)(bare)] == ["Runbook"]


async def test_triage_alarm_runs_carry_the_routes_runbook_button(
    harness: SnsHarness, moto_url: str
) -> None:
    from tests.incidents.test_timeline_slack import command

    boto3.client("cloudwatch", endpoint_url=moto_url, region_name="us-east-1").put_metric_alarm(
        AlarmName="prod-api-5xx",
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "LoadBalancer", "Value": "app/prod-api/50dc6c495c0c9188"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )

    await command(harness, "alarm prod-api-5xx")

    [run] = [
        m
        for m in harness.slack.messages(CHANNEL)
        if m.metadata and m.metadata["event_payload"]["kind"] == "run"
    ]
    assert [label(b) for b in actions(run.blocks)] == ["Re-run", "Details", "Runbook"]
    assert actions(run.blocks)[-1]["url"] == (
        "https://wiki.example.com/runbooks/prod-api-5xx?from=slack&lb=app/prod-api/50dc6c495c0c9188"
    )
