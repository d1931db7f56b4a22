"""A realistic incident in a local AWS (moto): an ALB whose targets are failing, the 5xx alarm
that fired, and the metric that made it fire. Used by ``triagebot demo``, the end-to-end tests
and the benchmarks. For the demo, also the same alarm's incident three days before, in the
store and the channel (``seed_earlier_incident``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bot.alarms.parse import parse_notification
from bot.demo.slack_workspace import FakeWorkspace
from bot.incidents.messages import root_message
from bot.store.base import Incident, Store

ALARM_NAME = "prod-web-5xx"
LB_NAME = "prod-web"
TG_NAME = "prod-web-tg"


@dataclass(frozen=True)
class SeededIncident:
    region: str
    account: str
    load_balancer: str  # name
    load_balancer_arn: str
    load_balancer_dimension: str  # app/NAME/ID, as alarms carry it
    target_group_arn: str
    instances: tuple[str, ...]  # the first is stopped
    alarm_name: str
    alarm_arn: str


def seed_incident(endpoint_url: str | None, region: str = "us-east-1") -> SeededIncident:
    """Create the incident's resources; returns their names and ids."""

    def client(service: str) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    ec2, elbv2, cloudwatch = client("ec2"), client("elbv2"), client("cloudwatch")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{region}{zone}"
        )["Subnet"]["SubnetId"]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName="prod-web", Description="prod web", VpcId=vpc)[
        "GroupId"
    ]
    image = "ami-12c6146b"  # any id will do for moto
    instances = [
        ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.small",
            SubnetId=subnets[i % 2],
            SecurityGroupIds=[group],
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "Name", "Value": f"prod-web-{i + 1}"}],
                }
            ],
        )["Instances"][0]["InstanceId"]
        for i in range(3)
    ]
    lb = elbv2.create_load_balancer(Name=LB_NAME, Subnets=subnets, SecurityGroups=[group])[
        "LoadBalancers"
    ][0]
    lb_arn = lb["LoadBalancerArn"]
    tg_arn = elbv2.create_target_group(
        Name=TG_NAME, Protocol="HTTP", Port=8080, VpcId=vpc, HealthCheckPath="/healthz"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(
        TargetGroupArn=tg_arn, Targets=[{"Id": i, "Port": 8080} for i in instances]
    )
    ec2.stop_instances(InstanceIds=[instances[0]])
    elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )
    dimension = lb_arn.split(":loadbalancer/", 1)[1]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    cloudwatch.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Dimensions": [{"Name": "LoadBalancer", "Value": dimension}],
                "Timestamp": now - timedelta(minutes=minutes),
                "Value": float(value),
                "Unit": "Count",
            }
            for minutes, value in ((30, 0), (25, 1), (20, 0), (15, 4), (10, 38), (5, 112), (1, 164))
        ],
    )
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM_NAME,
        AlarmDescription="Target 5xx errors on the production web load balancer",
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "LoadBalancer", "Value": dimension}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=50.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(
        AlarmName=ALARM_NAME,
        StateValue="ALARM",
        StateReason="Threshold Crossed: 1 datapoint [164.0] was greater than the threshold (50.0).",
    )
    alarm_arn = cloudwatch.describe_alarms(AlarmNames=[ALARM_NAME])["MetricAlarms"][0]["AlarmArn"]
    account = client("sts").get_caller_identity()["Account"]
    return SeededIncident(
        region=region,
        account=account,
        load_balancer=LB_NAME,
        load_balancer_arn=lb_arn,
        load_balancer_dimension=dimension,
        target_group_arn=tg_arn,
        instances=tuple(instances),
        alarm_name=ALARM_NAME,
        alarm_arn=alarm_arn,
    )


def alarm_envelope(
    incident: SeededIncident, topic_arn: str, *, state: str = "ALARM", at: datetime | None = None
) -> dict[str, Any]:
    """The incident's alarm as SNS delivers it to an HTTP endpoint (unsigned envelope)."""
    when = at or datetime.now(UTC)
    reason = (
        "Threshold Crossed: 1 datapoint [164.0] was greater than the threshold (50.0)."
        if state == "ALARM"
        else "Threshold Crossed: 1 datapoint [3.0] was not greater than the threshold (50.0)."
    )
    message = {
        "AlarmName": incident.alarm_name,
        "AlarmDescription": "Target 5xx errors on the production web load balancer",
        "AWSAccountId": incident.account,
        "AlarmConfigurationUpdatedTimestamp": "2026-10-01T09:00:00.000+0000",
        "NewStateValue": state,
        "NewStateReason": reason,
        "StateChangeTime": when.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "Region": "US East (N. Virginia)",
        "AlarmArn": incident.alarm_arn,
        "OldStateValue": "OK" if state == "ALARM" else "ALARM",
        "OKActions": [topic_arn],
        "AlarmActions": [topic_arn],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "HTTPCode_Target_5XX_Count",
            "Namespace": "AWS/ApplicationELB",
            "StatisticType": "Statistic",
            "Statistic": "SUM",
            "Unit": None,
            "Dimensions": [{"value": incident.load_balancer_dimension, "name": "LoadBalancer"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 50.0,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Subject": f'{state}: "{incident.alarm_name}" in US East (N. Virginia)',
        "Message": json.dumps(message),
        "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:1",
    }


async def seed_earlier_incident(
    store: Store,
    workspace: FakeWorkspace,
    seeded: SeededIncident,
    *,
    topic_arn: str,
    channel: str,
    route: str,
    acknowledged_by: str,
    at: datetime,
    took: timedelta,
) -> Incident:
    """The same alarm once before (at ``at``, resolved ``took`` later, acknowledged): its root in
    the channel as the bot drew it, and its record in the store, so that the demo's incident
    opens its thread with "seen before" and a link to this one."""
    alarm = parse_notification(alarm_envelope(seeded, topic_arn, at=at), now=at)
    if alarm is None:
        raise ValueError("the seeded alarm did not parse")
    resolved = at + took
    incident = Incident(
        key=alarm.incident_key,
        route=route,
        channel=channel,
        root_ts="",
        state="OK",
        opened_at=at,
        state_changed_at=resolved,
        alarm_name=alarm.name,
        acknowledged_by=acknowledged_by,
        resolved_at=resolved,
    )
    root = root_message(alarm, incident, resolved)
    posted = workspace.call(
        "chat.postMessage", {"channel": channel, "text": root.text, "blocks": root.blocks}
    )
    incident = replace(incident, root_ts=str(posted["ts"]))
    await store.incident_create(incident)
    return incident
