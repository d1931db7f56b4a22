"""The deploy templates, created as stacks in moto's CloudFormation and read back.

moto lacks handlers for a few resource types and properties the templates use; the handlers in
``tests/support/cloudformation.py`` make the same API calls CloudFormation's would, so every
resource below exists in moto and is read back through the public APIs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bot.config import load_settings
from bot.store.dynamodb_retention import TTL_ATTRIBUTE
from bot.store.dynamodb_schema import schema_problem
from tests.store.helpers import T0, dynamodb_store
from tests.support import cloudformation

ROOT = Path(__file__).resolve().parent.parent.parent
STACK = ROOT / "deploy" / "cloudformation.yaml"
ROLE_STACK = ROOT / "deploy" / "cloudformation-role.yaml"
ACCOUNT = "123456789012"  # moto's
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/triagebot:1.0.0"
HEALTH_CHECK = (
    "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen("
    "'http://127.0.0.1:3000/healthz', timeout=4).status == 200 else 1)"
)


@pytest.fixture(autouse=True)
def _complete_moto_cloudformation() -> None:
    cloudformation.install()


def create_stack(
    session: boto3.Session, template: Path, name: str = "triagebot", **parameters: str
) -> dict[str, str]:
    """Create the stack; its outputs. The stack must reach CREATE_COMPLETE."""
    cfn = session.client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=template.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    [stack] = cfn.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def create_bot_stack(session: boto3.Session, **parameters: str) -> dict[str, str]:
    ec2 = session.client("ec2")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    given = {
        "Image": IMAGE,
        "VpcId": vpc["VpcId"],
        "Subnets": ",".join(s["SubnetId"] for s in subnets["Subnets"][:2]),
        "DefaultChannel": "C0ALARMS",
        **parameters,
    }
    return create_stack(session, STACK, **given)


def task_definition(session: boto3.Session) -> dict[str, Any]:
    ecs = session.client("ecs")
    [service] = ecs.describe_services(cluster="triagebot", services=["triagebot"])["services"]
    return dict(
        ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    )


def container_env(session: boto3.Session) -> dict[str, str]:
    [container] = task_definition(session)["containerDefinitions"]
    return {e["name"]: e["value"] for e in container["environment"]}


def inline_policy(session: boto3.Session, role_arn: str) -> dict[str, Any]:
    iam = session.client("iam")
    role = role_arn.rsplit("/", 1)[-1]
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    return document if isinstance(document, dict) else dict(json.loads(document))


def triagebot_iam_policy(config_toml: str) -> dict[str, Any]:
    """What ``triagebot iam-policy`` prints when the config is the given TOML text."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "iam-policy"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TRIAGEBOT_CONFIG_TOML": config_toml},
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def grants(policy: dict[str, Any]) -> dict[str, tuple[str, list[str], list[str]]]:
    """A policy's statements by Sid: effect, actions, resources (IAM ignores their order)."""

    def listed(value: str | list[str]) -> list[str]:
        return sorted([value] if isinstance(value, str) else value)

    return {
        s["Sid"]: (s["Effect"], listed(s["Action"]), listed(s["Resource"]))
        for s in policy["Statement"]
    }


# --- the one stack ---------------------------------------------------------------------------


def test_the_stack_runs_the_bot_on_fargate_with_its_tokens_and_config(
    session: boto3.Session,
) -> None:
    outputs = create_bot_stack(session, DesiredCount="2", AssignPublicIp="ENABLED")
    ecs = session.client("ecs")
    [service] = ecs.describe_services(cluster="triagebot", services=["triagebot"])["services"]
    assert (service["launchType"], service["desiredCount"]) == ("FARGATE", 2)
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert network["assignPublicIp"] == "ENABLED" and len(network["subnets"]) == 2

    [group] = session.client("ec2").describe_security_groups(GroupIds=network["securityGroups"])[
        "SecurityGroups"
    ]
    assert group["IpPermissions"] == []  # nothing inbound: Socket Mode dials out
    assert [
        (p["IpProtocol"], p["FromPort"], p["ToPort"]) for p in group["IpPermissionsEgress"]
    ] == [("tcp", 443, 443)]

    task = task_definition(session)
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
    assert (task["cpu"], task["memory"]) == ("512", "1024")
    assert task["taskRoleArn"] == outputs["TaskRoleArn"]
    [container] = task["containerDefinitions"]
    assert container["image"] == IMAGE
    assert container["portMappings"][0]["containerPort"] == 3000
    assert container["healthCheck"]["command"] == ["CMD", "python", "-c", HEALTH_CHECK]
    logs = container["logConfiguration"]["options"]
    assert logs["awslogs-group"] == outputs["LogGroupName"] == "/ecs/triagebot"
    [log_group] = session.client("logs").describe_log_groups(
        logGroupNamePrefix=outputs["LogGroupName"]
    )["logGroups"]
    assert log_group["retentionInDays"] == 30

    # The tokens come from the secrets the stack made (empty, for the operator to fill).
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert secrets == {
        "SLACK_BOT_TOKEN": outputs["SlackBotTokenSecretArn"],
        "SLACK_APP_TOKEN": outputs["SlackAppTokenSecretArn"],
    }
    manager = session.client("secretsmanager")
    assert manager.describe_secret(SecretId=secrets["SLACK_BOT_TOKEN"])["Name"] == (
        "triagebot/slack-bot-token"
    )
    with pytest.raises(ClientError, match="ResourceNotFound"):
        manager.get_secret_value(SecretId=secrets["SLACK_APP_TOKEN"])
    execution = grants(inline_policy(session, task["executionRoleArn"]))
    assert execution["ReadTheSlackTokens"][2] == sorted(secrets.values())

    # The config the bot reads is the TOML the stack wrote into the environment.
    settings = load_settings(None, env={**container_env(session), "AWS_REGION": ""})
    assert settings.slack.default_channel == "C0ALARMS"
    assert settings.aws.region == "us-east-1"
    assert settings.sns.topic_arns == (outputs["AlarmTopicArn"],)
    assert settings.sqs is not None and settings.sqs.queue_url == outputs["QueueUrl"]
    assert settings.store.url == f"dynamodb://{outputs['TableName']}"
    assert settings.digest is None


def test_existing_secrets_and_extra_config_are_used_as_given(session: boto3.Session) -> None:
    manager = session.client("secretsmanager")
    bot = manager.create_secret(Name="slack/bot", SecretString="xoxb-1")["ARN"]
    app = manager.create_secret(Name="slack/app", SecretString="xapp-1")["ARN"]
    create_bot_stack(
        session,
        SlackBotTokenSecretArn=bot,
        SlackAppTokenSecretArn=app,
        DigestChannel="C0COST",
        DigestTimezone="Europe/Berlin",
        ExtraConfigToml='[alarms]\nstorm_threshold = 9\n[[routes]]\nplaybook = "alb-errors"\n',
    )
    [container] = task_definition(session)["containerDefinitions"]
    assert {s["name"]: s["valueFrom"] for s in container["secrets"]} == {
        "SLACK_BOT_TOKEN": bot,
        "SLACK_APP_TOKEN": app,
    }
    assert sorted(s["Name"] for s in manager.list_secrets()["SecretList"]) == [
        "slack/app",
        "slack/bot",
    ]
    settings = load_settings(None, env=container_env(session))
    assert settings.digest is not None
    assert (settings.digest.channel, settings.digest.timezone) == ("C0COST", "Europe/Berlin")
    assert settings.alarms.storm_threshold == 9 and settings.routes[0].playbook == "alb-errors"


def test_only_cloudwatch_and_eventbridge_of_this_account_may_publish_and_the_queue_gets_envelopes(
    session: boto3.Session,
) -> None:
    outputs = create_bot_stack(session)
    sns, sqs = session.client("sns"), session.client("sqs")
    topic = outputs["AlarmTopicArn"]
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    publishers = {
        s["Principal"]["Service"]: s["Condition"]
        for s in policy["Statement"]
        if s["Effect"] == "Allow"
    }
    assert set(publishers) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    for service, condition in publishers.items():
        assert condition["StringEquals"] == {"aws:SourceAccount": ACCOUNT}, service
    assert publishers["cloudwatch.amazonaws.com"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:*"
    }
    assert all(s["Action"] == "sns:Publish" and s["Resource"] == topic for s in policy["Statement"])

    queue = outputs["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(
        QueueUrl=outputs["DeadLetterQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq,
        "maxReceiveCount": 5,
    }
    [only] = json.loads(attributes["Policy"])["Statement"]
    assert only["Principal"] == {"Service": "sns.amazonaws.com"}
    assert only["Condition"] == {"ArnEquals": {"aws:SourceArn": topic}}

    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("sqs", attributes["QueueArn"])
    raw = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])
    assert raw["Attributes"]["RawMessageDelivery"] == "false"

    sns.publish(TopicArn=topic, Message='{"AlarmName": "prod-api-5xx"}')
    [message] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
    assert "Signature" in envelope and json.loads(envelope["Message"])["AlarmName"] == (
        "prod-api-5xx"
    )


async def test_the_table_has_recovery_on_and_the_bot_stores_in_it(session: boto3.Session) -> None:
    table = create_bot_stack(session)["TableName"]
    dynamodb = session.client("dynamodb")
    description = dynamodb.describe_table(TableName=table)["Table"]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert schema_problem(description) == ""
    backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL_ATTRIBUTE}

    store = dynamodb_store(session, table=table)
    await store.start()
    try:
        assert await store.inbox_add("m1", "sqs", "{}", T0)
        assert not await store.inbox_add("m1", "sqs", "{}", T0)
    finally:
        await store.close()


@pytest.mark.parametrize("digest", ["", "C0COST"], ids=["no-digest", "digest"])
def test_the_task_role_grants_exactly_what_triagebot_iam_policy_prints(
    session: boto3.Session, digest: str
) -> None:
    outputs = create_bot_stack(session, DigestChannel=digest)
    config = container_env(session)["TRIAGEBOT_CONFIG_TOML"]
    granted = grants(inline_policy(session, outputs["TaskRoleArn"]))
    printed = grants(triagebot_iam_policy(config))
    assert granted == printed
    assert {"TriagebotAlarmQueue", "TriagebotStateTable"} <= set(granted)
    assert ("TriagebotCostDigest" in granted) == bool(digest)


# --- the role-only stack ---------------------------------------------------------------------


def test_the_role_stack_grants_the_committed_policy(session: boto3.Session) -> None:
    outputs = create_stack(session, ROLE_STACK)
    committed = json.loads((ROOT / "deploy" / "iam-policy.json").read_text())
    assert grants(inline_policy(session, outputs["RoleArn"])) == grants(committed)
    assert "QueueUrl" not in outputs
    topic = outputs["AlarmTopicArn"]
    policy = json.loads(
        session.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
    )
    assert {s["Principal"]["Service"] for s in policy["Statement"]} == {
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
    }


def test_the_role_stack_with_a_queue_grants_what_iam_policy_prints_for_it(
    session: boto3.Session,
) -> None:
    outputs = create_stack(session, ROLE_STACK, UseQueue="true")
    config = (ROOT / "deploy" / "policy-config.toml").read_text()
    config += f'[sqs]\nqueue_url = "{outputs["QueueUrl"]}"\n'
    assert grants(inline_policy(session, outputs["RoleArn"])) == grants(
        triagebot_iam_policy(config)
    )
    [subscription] = session.client("sns").list_subscriptions_by_topic(
        TopicArn=outputs["AlarmTopicArn"]
    )["Subscriptions"]
    assert subscription["Protocol"] == "sqs"
