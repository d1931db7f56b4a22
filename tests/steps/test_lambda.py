from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from bot.errors import StepError
from bot.results import Severity, Status
from bot.steps.lambda_ import function, parse_log_lines
from tests.steps.stepctx import DENIED, alarm_on, context, run
from tests.support.aws_hooks import AwsFault, fake_operation

NOW = datetime.now(UTC).replace(microsecond=0)


def create_function(session: boto3.Session, name: str = "checkout-api") -> None:
    role = session.client("iam").create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 'ok'\n")
    session.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
        MemorySize=128,
        Timeout=3,
    )


def put_metrics(session: boto3.Session, name: str, **sums: float) -> None:
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "FunctionName", "Value": name}],
            "Timestamp": NOW - timedelta(minutes=10),
            "Value": value,
            "Unit": "Milliseconds" if metric == "Duration" else "Count",
        }
        for metric, value in sums.items()
    ]
    session.client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=data)


def put_logs(session: boto3.Session, name: str, lines: list[str]) -> None:
    logs = session.client("logs")
    group = f"/aws/lambda/{name}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2024/05/01/[$LATEST]abc")
    base = int((NOW - timedelta(minutes=20)).timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2024/05/01/[$LATEST]abc",
        logEvents=[{"timestamp": base + i * 1000, "message": line} for i, line in enumerate(lines)],
    )


def report(used: int, size: int = 128, duration: float = 102.25) -> str:
    return (
        "REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3\t"
        f"Duration: {duration} ms\tBilled Duration: {int(duration) + 1} ms\t"
        f"Memory Size: {size} MB\tMax Memory Used: {used} MB\t"
    )


TIMED_OUT = (
    "2024-05-01T10:00:03.015Z 3604209a-e9a3-11e6-939a-754dd98c7be4 "
    "Task timed out after 3.00 seconds"
)


async def test_healthy_function(session: boto3.Session) -> None:
    create_function(session)
    put_metrics(session, "checkout-api", Invocations=120, Errors=0, Throttles=0, Duration=340)
    put_logs(session, "checkout-api", ["START RequestId: x", report(70), report(64), "END"])

    out = await run(function, context(session, now=NOW), function_name="checkout-api")

    assert out.status is Status.OK, out.findings
    assert out.summary == (
        "`checkout-api` (python3.12, 128 MB, 3s timeout): 120 invocations, 0 errors, "
        "0 throttles in the last 1h."
    )
    assert [f.text for f in out.findings] == ["Peak memory used 70 of 128 MB."]
    assert out.data["peak_memory_used_mb"] == 70
    assert out.data["duration_peak_ms"] == 340
    assert ("runtime", "python3.12") in out.tables[0].rows
    assert {s.label for s in out.series} >= {"Invocations", "Duration Maximum"}


async def test_errors_timeouts_and_memory_pressure_warn(session: boto3.Session) -> None:
    create_function(session)
    put_metrics(session, "checkout-api", Invocations=40, Errors=10, Throttles=3, Duration=3000)
    put_logs(session, "checkout-api", [report(127), report(90), TIMED_OUT, report(128)])

    out = await run(function, context(session, now=NOW), function_name="checkout-api")

    assert out.status is Status.WARN
    texts = [f.text for f in out.findings]
    assert texts[0] == "1 invocation timed out (timeout 3s)."
    assert out.findings[0].severity is Severity.CRITICAL
    assert "10 errors (25% of invocations)." in texts
    assert "3 throttled invocations: concurrency limit reached." in texts
    assert "Memory: 2 of 3 invocations used over 90% of 128 MB (peak 128 MB)." in texts
    assert out.summary.endswith("1 invocation timed out (timeout 3s).")
    assert out.data["timeouts"] == 1


async def test_function_that_never_logged(session: boto3.Session) -> None:
    create_function(session, "new-fn")

    out = await run(function, context(session, now=NOW), function_name="new-fn")

    assert out.status is Status.OK
    assert "0 invocations" in out.summary
    assert [f.text for f in out.findings] == [
        "No log group /aws/lambda/new-fn: no invocation has logged yet."
    ]


async def test_function_defaults_to_the_alarm_dimension(session: boto3.Session) -> None:
    create_function(session, "orders")
    alarm = alarm_on("AWS/Lambda", FunctionName="orders")

    out = await run(function, context(session, now=NOW, alarm=alarm))

    assert out.data["function_name"] == "orders"


async def test_unknown_function_is_a_step_error(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="There is no Lambda function `nope` in us-east-1"):
        await run(function, context(session), function_name="nope")


def test_report_lines_are_parsed() -> None:
    stats = parse_log_lines([report(100, size=1024), report(1000, size=1024), "START x", TIMED_OUT])
    assert (stats.invocations, stats.peak_used_mb, stats.memory_mb) == (2, 1000, 1024)
    assert (stats.near_limit, stats.timeouts) == (1, 1)


async def test_access_denied_names_the_action_and_principal(session: boto3.Session) -> None:
    create_function(session)
    action = "logs:FilterLogEvents"
    fake_operation(
        session,
        "logs",
        "FilterLogEvents",
        AwsFault("AccessDeniedException", DENIED.format(action=action)),
    )
    with pytest.raises(StepError) as raised:
        await run(function, context(session), function_name="checkout-api")
    assert "arn:aws:sts::123456789012:assumed-role/triage/bot" in raised.value.user_message
    assert f"`{action}`" in raised.value.user_message
