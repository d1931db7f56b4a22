"""Alarm → playbook and channel, from the config's [[routes]]."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.alarms.model import Alarm, AlarmSource
from bot.alarms.parse import parse_notification
from bot.alarms.routing import RouteDecision, route
from bot.config import Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEFAULT = "C0DEFAULT00"


def routes(*entries: dict[str, Any]) -> tuple[Route, ...]:
    """Routes exactly as they would come out of the TOML file."""
    return tuple(Route.model_validate(entry) for entry in entries)


def alb_alarm(**changes: Any) -> Alarm:
    fields: dict[str, Any] = {
        "source": AlarmSource.ALARM,
        "name": "prod-api-5xx",
        "state": "ALARM",
        "account": "111122223333",
        "region": "us-east-2",
        "namespace": "AWS/ApplicationELB",
        "metric_name": "HTTPCode_Target_5XX_Count",
        "dimensions": {"LoadBalancer": "app/prod-api/50dc6c495c0c9188", "AvailabilityZone": "a"},
    }
    return Alarm(**(fields | changes))


def fixture_alarm(name: str) -> Alarm:
    alarm = parse_notification(json.loads((FIXTURES / name).read_text()))
    assert alarm is not None
    return alarm


def test_first_match_wins() -> None:
    config = routes(
        {"match": {"namespace": "AWS/EC2"}, "playbook": "ec2", "channel": "C0EC2"},
        {"match": {"alarm_name": "prod-*"}, "playbook": "prod", "channel": "C0PROD"},
        {"match": {"namespace": "AWS/ApplicationELB"}, "playbook": "alb", "channel": "C0ALB"},
    )
    assert route(alb_alarm(), config, DEFAULT) == RouteDecision("prod", "C0PROD", 1)


def test_no_match_runs_alarm_default_in_the_default_channel() -> None:
    config = routes({"match": {"alarm_name": "staging-*"}, "playbook": "staging"})
    assert route(alb_alarm(), config, DEFAULT) == RouteDecision("alarm-default", DEFAULT, None)
    assert route(alb_alarm(), (), DEFAULT) == RouteDecision("alarm-default", DEFAULT, None)


def test_route_without_channel_uses_the_default_channel() -> None:
    config = routes({"match": {"alarm_name": "prod-*"}, "playbook": "prod"})
    assert route(alb_alarm(), config, DEFAULT) == RouteDecision("prod", DEFAULT, 0)


def test_empty_match_matches_everything() -> None:
    config = routes({"playbook": "catch-all", "channel": "C0ALL"})
    assert route(alb_alarm(), config, DEFAULT).playbook == "catch-all"


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [
        ("prod-*-5xx", True),
        ("prod-api-5xx", True),
        ("prod-???-5xx", True),
        ("prod-[ab]pi-5xx", True),
        ("*", True),
        ("Prod-*-5xx", False),  # case-sensitive
        ("PROD-API-5XX", False),
        ("prod-*-5xx-extra", False),
        ("prod", False),
        ("staging-*", False),
    ],
)
def test_alarm_name_glob(pattern: str, matched: bool) -> None:
    config = routes({"match": {"alarm_name": pattern}, "playbook": "alb"})
    assert (route(alb_alarm(), config, DEFAULT).route_index == 0) is matched


@pytest.mark.parametrize(
    ("dimensions", "matched"),
    [
        ({"LoadBalancer": "app/prod-api/50dc6c495c0c9188"}, True),
        ({"LoadBalancer": "app/prod-api/50dc6c495c0c9188", "AvailabilityZone": "a"}, True),
        ({"LoadBalancer": "app/other/1"}, False),
        ({"LoadBalancer": "app/prod-api/50dc6c495c0c9188", "AvailabilityZone": "b"}, False),
        ({"TargetGroup": "targetgroup/x/1"}, False),  # the alarm has no such dimension
    ],
)
def test_dimensions_must_all_be_equal(dimensions: dict[str, str], matched: bool) -> None:
    config = routes({"match": {"dimensions": dimensions}, "playbook": "alb"})
    assert (route(alb_alarm(), config, DEFAULT).route_index == 0) is matched


@pytest.mark.parametrize(
    ("match", "matched"),
    [
        ({"namespace": "AWS/ApplicationELB"}, True),
        ({"namespace": "AWS/ELB"}, False),
        ({"metric_name": "HTTPCode_Target_5XX_Count"}, True),
        ({"metric_name": "HTTPCode_ELB_5XX_Count"}, False),
        ({"namespace": "AWS/ApplicationELB", "metric_name": "TargetResponseTime"}, False),
        ({"account": "111122223333"}, True),
        ({"account": "444455556666"}, False),
        ({"region": "us-east-2"}, True),
        ({"region": "US East (Ohio)"}, True),  # a display name in the config still matches
        ({"region": "us-east-1"}, False),
        ({"source": "alarm"}, True),
        ({"source": "health"}, False),
    ],
)
def test_each_match_key(match: dict[str, str], matched: bool) -> None:
    config = routes({"match": match, "playbook": "p"})
    assert (route(alb_alarm(), config, DEFAULT).route_index == 0) is matched


def test_health_events_default_to_the_health_playbook() -> None:
    health = fixture_alarm("eventbridge/aws-health-event-ec2-issue-from-sns.json")
    alarm_routes = routes({"match": {"source": "alarm"}, "playbook": "alarms", "channel": "C0A"})
    assert route(health, alarm_routes, DEFAULT) == RouteDecision("health", DEFAULT, None)


def test_health_events_can_be_routed_by_source_and_event_type() -> None:
    health = fixture_alarm("sns/signed/health-event-elb-api-issue-via-sns-sigv1.json")
    config = routes(
        {"match": {"source": "alarm"}, "playbook": "alarms"},
        {"match": {"source": "health", "alarm_name": "AWS_EC2_*"}, "playbook": "ec2-health"},
        {"match": {"source": "health", "region": "ap-southeast-2"}, "playbook": "sydney-health"},
    )
    assert route(health, config, DEFAULT) == RouteDecision("sydney-health", DEFAULT, 2)


def test_real_alarm_routed_by_namespace_and_dimension() -> None:
    alarm = fixture_alarm("sns/http-notification-alarm-ec2-cpu-alarm.json")
    config = routes(
        {
            "match": {"namespace": "AWS/EC2", "dimensions": {"InstanceId": "i-other"}},
            "playbook": "x",
        },
        {
            "match": {
                "namespace": "AWS/EC2",
                "metric_name": "CPUUtilization",
                "dimensions": {"InstanceId": "i-0f672ea50a80cda4b"},
                "region": "Asia Pacific (Seoul)",
                "account": "257706363616",
            },
            "playbook": "ec2-cpu",
            "channel": "C0EC2",
        },
    )
    assert route(alarm, config, DEFAULT) == RouteDecision("ec2-cpu", "C0EC2", 1)


def test_plain_notifications_fall_to_alarm_default() -> None:
    note = fixture_alarm("sns/docs-notification.json")
    config = routes({"match": {"source": "alarm"}, "playbook": "alarms"})
    assert route(note, config, DEFAULT) == RouteDecision("alarm-default", DEFAULT, None)
