"""Every step, denied by AWS, says which IAM action it lacks and whose policy needs it.

Each step's own documented example runs through the executor against moto, with every AWS
operation answering AccessDenied (a ``before-call`` hook, its answer checked against the
operation's error shape where the API models one). The user sees the step's error; it must
name the principal and, in backticks, an action the step declares for an operation it called.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.model import OperationModel
from botocore.validate import ParamValidator

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.executor import Executor
from bot.playbooks.schema import Playbook
from bot.results import Status
from bot.steps import default_registry
from bot.steps.base import StepType

PRINCIPAL = "arn:aws:sts::123456789012:assumed-role/triage/bot"
REGISTRY = default_registry()
STEPS = list(REGISTRY)
# What the examples' templates read: an alarm on every kind of resource at once.
ALARM = Alarm(
    source=AlarmSource.ALARM,
    name="prod-alarm",
    state="ALARM",
    region="us-east-1",
    namespace="AWS/ApplicationELB",
    metric_name="TargetResponseTime",
    dimensions={
        "AutoScalingGroupName": "web-asg",
        "LoadBalancer": "app/web/50dc6c495c0c9188",
        "InstanceId": "i-1234567890abcdef0",
        "ClusterName": "prod",
        "ServiceName": "orders",
        "FunctionName": "checkout-api",
        "DBInstanceIdentifier": "orders-db",
    },
)
# The code each protocol's APIs answer a denial with, when the operation models none.
_DENIED_CODE = {"ec2": "UnauthorizedOperation", "query": "AccessDenied", "rest-xml": "AccessDenied"}


def deny_everything(session: boto3.Session) -> list[str]:
    """Every operation of every client built from ``session`` answers AccessDenied (HTTP 403);
    the returned list fills with the operations denied."""
    denied: list[str] = []

    def handler(model: OperationModel, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        denied.append(model.name)
        code, message = denial(model)
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 403, "RetryAttempts": 0},
        }
        return AWSResponse("https://denied.invalid/", 403, HTTPHeaders(), None), parsed

    session.events.register("before-call", handler, unique_id="deny-everything")  # type: ignore[arg-type]
    return denied


def denial(model: OperationModel) -> tuple[str, str]:
    """The error code and message AWS would deny ``model`` with, fitted to its error shape."""
    service = model.service_model.service_id.hyphenize()
    action = f"{service}:{model.name}"
    message = f"User: {PRINCIPAL} is not authorized to perform: {action}"
    for shape in model.error_shapes:
        code = shape.metadata.get("error", {}).get("code", shape.name)
        if code.startswith(("AccessDenied", "Unauthorized")):
            field = next(name for name in shape.members if name.lower() == "message")
            report = ParamValidator().validate({field: message}, shape)
            assert not report.has_errors(), report.generate_report()
            return code, message
    if "awsQueryCompatible" in model.service_model.metadata:  # CloudWatch: its query-era codes
        return "AccessDenied", message
    protocol = model.service_model.protocol
    return _DENIED_CODE.get(protocol, "AccessDeniedException"), message


def example_playbook(step: StepType[Any]) -> Playbook:
    return Playbook.model_validate({"name": "denied", "steps": yaml.safe_load(step.example)})


@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
async def test_a_denied_step_names_the_action_and_the_principal(
    step: StepType[Any], session: boto3.Session
) -> None:
    denied = deny_everything(session)
    aws = AwsClients(AwsSettings(), session_factory=lambda: session)
    try:
        run = await Executor(REGISTRY, aws).run(example_playbook(step), {}, alarm=ALARM)
    finally:
        aws.close()

    [result] = run.steps
    assert result.status is Status.ERROR, result.summary
    assert PRINCIPAL in result.summary
    named = {
        a for a in step.permissions if a.split(":")[1] in denied and f"`{a}`" in result.summary
    }
    assert named, f"{step.name} said {result.summary!r} after {denied} were denied"
