from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from bot.errors import StepError
from bot.results import Status
from bot.steps.iam import role_arn_for, simulate
from tests.steps.stepctx import context, run
from tests.support.aws_hooks import AwsFault, fake_operation

ROLE = "arn:aws:iam::123456789012:role/service-role/checkout-api"

# What IAM answers for a role whose policy allows s3:GetObject on one bucket, with an explicit
# Deny on kms:Decrypt, and nothing about sqs:SendMessage (moto has no SimulatePrincipalPolicy).
SIMULATION: dict[str, Any] = {
    "EvaluationResults": [
        {
            "EvalActionName": "s3:GetObject",
            "EvalResourceName": "arn:aws:s3:::orders-bucket/invoice.pdf",
            "EvalDecision": "allowed",
            "MatchedStatements": [
                {
                    "SourcePolicyId": "checkout-s3-read",
                    "SourcePolicyType": "IAM Policy",
                    "StartPosition": {"Line": 3, "Column": 19},
                    "EndPosition": {"Line": 8, "Column": 6},
                }
            ],
            "MissingContextValues": [],
        },
        {
            "EvalActionName": "kms:Decrypt",
            "EvalResourceName": "arn:aws:s3:::orders-bucket/invoice.pdf",
            "EvalDecision": "explicitDeny",
            "MatchedStatements": [
                {"SourcePolicyId": "deny-kms-outside-vpc", "SourcePolicyType": "IAM Policy"}
            ],
            "MissingContextValues": ["aws:SourceVpc"],
        },
        {
            "EvalActionName": "sqs:SendMessage",
            "EvalResourceName": "arn:aws:s3:::orders-bucket/invoice.pdf",
            "EvalDecision": "implicitDeny",
            "MatchedStatements": [],
            "MissingContextValues": [],
            "OrganizationsDecisionDetail": {"AllowedByOrganizations": False},
        },
    ],
    "IsTruncated": False,
}


async def test_denied_actions_are_explained_first(session: boto3.Session) -> None:
    fake_operation(session, "iam", "SimulatePrincipalPolicy", SIMULATION)

    out = await run(
        simulate,
        context(session),
        principal_arn=ROLE,
        actions=["s3:GetObject", "kms:Decrypt", "sqs:SendMessage"],
        resources=["arn:aws:s3:::orders-bucket/invoice.pdf"],
    )

    assert out.status is Status.WARN
    assert out.summary.startswith(f"`{ROLE}` is denied kms:Decrypt, sqs:SendMessage. ✗ kms:Decrypt")
    texts = [f.text for f in out.findings]
    assert texts == [
        "✗ kms:Decrypt on arn:aws:s3:::orders-bucket/invoice.pdf: explicitly denied by "
        "deny-kms-outside-vpc (IAM Policy). (Condition keys not simulated: aws:SourceVpc.)",
        "✗ sqs:SendMessage on arn:aws:s3:::orders-bucket/invoice.pdf: implicitly denied — no "
        "statement allows it. An Organizations SCP blocks it.",
        "✓ s3:GetObject on arn:aws:s3:::orders-bucket/invoice.pdf: allowed by "
        "checkout-s3-read (IAM Policy).",
    ]
    assert out.data["denied"] == 2
    assert out.data["results"][1]["decision"] == "explicitDeny"


async def test_all_allowed_points_at_resource_policies(session: boto3.Session) -> None:
    fake_operation(
        session,
        "iam",
        "SimulatePrincipalPolicy",
        {"EvaluationResults": SIMULATION["EvaluationResults"][:1], "IsTruncated": False},
    )

    out = await run(simulate, context(session), principal_arn=ROLE, actions=["s3:GetObject"])

    assert out.status is Status.OK
    assert "check resource policies" in out.summary


async def test_default_principal_is_the_bots_own_role_with_its_path(
    session: boto3.Session,
) -> None:
    iam = session.client("iam")
    iam.create_role(
        RoleName="triagebot",
        Path="/service-role/",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    creds = session.client("sts").assume_role(
        RoleArn="arn:aws:iam::123456789012:role/service-role/triagebot", RoleSessionName="bot"
    )["Credentials"]
    as_bot = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    fake_operation(as_bot, "iam", "SimulatePrincipalPolicy", SIMULATION)

    out = await run(simulate, context(as_bot), actions=["s3:GetObject"])

    assert out.data["principal"] == "arn:aws:iam::123456789012:role/service-role/triagebot"


def test_assumed_role_arn_becomes_the_role_arn() -> None:
    assert role_arn_for("arn:aws:sts::123456789012:assumed-role/triage/bot") == (
        "arn:aws:iam::123456789012:role/triage"
    )
    assert role_arn_for("arn:aws-cn:sts::123456789012:assumed-role/r/s") == (
        "arn:aws-cn:iam::123456789012:role/r"
    )
    assert role_arn_for("arn:aws:iam::123456789012:user/alice") is None


def test_actions_are_required() -> None:
    with pytest.raises(ValidationError, match="actions"):
        simulate.params.model_validate({"principal_arn": ROLE})


async def test_unknown_principal_is_a_step_error(session: boto3.Session) -> None:
    fake_operation(
        session,
        "iam",
        "SimulatePrincipalPolicy",
        AwsFault("NoSuchEntity", "The role with name nobody cannot be found.", 404),
    )
    with pytest.raises(StepError, match="NoSuchEntity: The role with name nobody"):
        await run(
            simulate,
            context(session),
            principal_arn="arn:aws:iam::123456789012:role/nobody",
            actions=["s3:GetObject"],
        )
