"""The demo's AWS: moto server for everything it serves, and botocore hooks (validated against
AWS's output shapes) for the few operations moto lacks, telling one consistent story:

a deploy changed the target group's health-check path 18 minutes ago, the targets started
failing health checks with 404s, and the 5xx alarm fired. Meanwhile AWS Health has an open
Elastic Load Balancing issue in the region (slow target registration), which the on-call
engineer has to rule out; and Cost Explorer knows yesterday's bill (``bot.demo.costs``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bot.aws import SessionFactory
from bot.demo.aws_hooks import fake_operation
from bot.demo.costs import fake_costs
from bot.demo.seed import SeededIncident

DEPLOYER = "arn:aws:sts::123456789012:assumed-role/deploy-pipeline/web-release-4711"


def demo_session_factory(
    incident: SeededIncident, *, now: datetime | None = None
) -> SessionFactory:
    """Sessions whose clients answer Health, CloudTrail, alarm history, target health and the
    Cost Explorer operations moto lacks."""
    at = now or datetime.now(UTC)

    def make() -> boto3.Session:
        session = boto3.Session(region_name=incident.region)
        fake_operation(
            session, "health", "DescribeEvents", {"events": [_health_event(incident, at)]}
        )
        fake_operation(session, "health", "DescribeEventDetails", _health_details(incident, at))
        fake_operation(session, "cloudtrail", "LookupEvents", _changes(incident, at))
        fake_operation(session, "cloudwatch", "DescribeAlarmHistory", _history(incident, at))
        fake_operation(session, "elbv2", "DescribeTargetHealth", _target_health(incident))
        fake_costs(session)
        return session

    return make


def health_event_arn(incident: SeededIncident) -> str:
    return (
        f"arn:aws:health:{incident.region}::event/ELASTICLOADBALANCING/"
        f"AWS_ELASTICLOADBALANCING_API_ISSUE/AWS_ELASTICLOADBALANCING_API_ISSUE_DEMO_7F3A9"
    )


def _health_event(incident: SeededIncident, now: datetime) -> dict[str, Any]:
    """An open ELB issue in the region, shaped like ``aws health describe-events`` output."""
    started = now - timedelta(minutes=25)
    return {
        "arn": health_event_arn(incident),
        "service": "ELASTICLOADBALANCING",
        "eventTypeCode": "AWS_ELASTICLOADBALANCING_API_ISSUE",
        "eventTypeCategory": "issue",
        "region": incident.region,
        "startTime": started,
        "lastUpdatedTime": now - timedelta(minutes=6),
        "statusCode": "open",
        "eventScopeCode": "PUBLIC",
    }


def _health_details(incident: SeededIncident, now: datetime) -> dict[str, Any]:
    started = now - timedelta(minutes=25)
    description = (
        f"[{started:%H:%M} UTC] We are investigating increased target registration latencies "
        f"in the {incident.region.upper()} Region. Existing load balancers are not affected."
    )
    event = _health_event(incident, now)
    return {
        "successfulSet": [{"event": event, "eventDescription": {"latestDescription": description}}],
        "failedSet": [],
    }


def _changes(incident: SeededIncident, now: datetime) -> dict[str, Any]:
    def event(
        minutes: int, name: str, source: str, resource: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        when = now - timedelta(minutes=minutes)
        detail = {
            "eventVersion": "1.08",
            "userIdentity": {"type": "AssumedRole", "arn": DEPLOYER},
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "awsRegion": incident.region,
            "requestParameters": request,
            "readOnly": False,
        }
        return {
            "EventId": f"demo-{minutes}-{name}",
            "EventName": name,
            "ReadOnly": "false",
            "EventTime": when,
            "EventSource": source,
            "Username": "web-release-4711",
            "Resources": [
                {
                    "ResourceType": "AWS::ElasticLoadBalancingV2::TargetGroup",
                    "ResourceName": resource,
                }
            ],
            "CloudTrailEvent": json.dumps(detail),
        }

    tg = incident.target_group_arn
    return {
        "Events": [
            event(
                18,
                "ModifyTargetGroup",
                "elasticloadbalancing.amazonaws.com",
                tg,
                {"targetGroupArn": tg, "healthCheckPath": "/health"},
            ),
            event(
                19,
                "RegisterTargets",
                "elasticloadbalancing.amazonaws.com",
                tg,
                {"targetGroupArn": tg, "targets": [{"id": incident.instances[2], "port": 8080}]},
            ),
        ]
    }


def _history(incident: SeededIncident, now: datetime) -> dict[str, Any]:
    def item(minutes: int, old: str, new: str, reason: str) -> dict[str, Any]:
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old},
            "newState": {"stateValue": new, "stateReason": reason},
        }
        return {
            "AlarmName": incident.alarm_name,
            "AlarmType": "MetricAlarm",
            "Timestamp": now - timedelta(minutes=minutes),
            "HistoryItemType": "StateUpdate",
            "HistorySummary": f"Alarm updated from {old} to {new}",
            "HistoryData": json.dumps(data),
        }

    return {
        "AlarmHistoryItems": [
            item(
                4,
                "OK",
                "ALARM",
                "Threshold Crossed: 1 datapoint [164.0] was greater than the threshold (50.0).",
            ),
            item(
                26 * 60,
                "ALARM",
                "OK",
                "Threshold Crossed: 1 datapoint [0.0] was not greater than the threshold (50.0).",
            ),
            item(
                26 * 60 + 7,
                "OK",
                "ALARM",
                "Threshold Crossed: 1 datapoint [61.0] was greater than the threshold (50.0).",
            ),
        ]
    }


def _target_health(incident: SeededIncident) -> dict[str, Any]:
    stopped, failing_a, failing_b = incident.instances

    def target(
        instance: str, state: str, reason: str = "", description: str = ""
    ) -> dict[str, Any]:
        health: dict[str, Any] = {"State": state}
        if reason:
            health |= {"Reason": reason, "Description": description}
        return {
            "Target": {"Id": instance, "Port": 8080},
            "HealthCheckPort": "8080",
            "TargetHealth": health,
        }

    mismatch = "Health checks failed with these codes: [404]"
    return {
        "TargetHealthDescriptions": [
            target(failing_a, "unhealthy", "Target.ResponseCodeMismatch", mismatch),
            target(failing_b, "unhealthy", "Target.ResponseCodeMismatch", mismatch),
            target(stopped, "unused", "Target.InvalidState", "Target is in the stopped state"),
        ]
    }
