"""ecs.service against moto (services, task definitions, metrics), with ListTasks/DescribeTasks
faked for stopped tasks' stop codes and exit codes (moto keeps neither)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bot.errors import StepError
from bot.results import Change, Severity, Status, Symptom
from bot.steps.ecs import service
from bot.steps.ecs_report import stop_cause
from tests.steps.stepctx import DENIED, alarm_on, context, run
from tests.support.aws_hooks import AwsFault, fake_operation

NOW = datetime.now(UTC).replace(microsecond=0)


def seed(session: boto3.Session, *, memory: tuple[str, ...] = ("1024", "512")) -> dict[str, Any]:
    """Cluster `prod`, task definition `orders` (one revision per memory size), service
    `orders` on the last revision."""
    ecs = session.client("ecs")
    ecs.create_cluster(clusterName="prod")
    for size in memory:
        definition = ecs.register_task_definition(
            family="orders",
            memory=size,
            cpu="256",
            containerDefinitions=[{"name": "app", "image": "orders:latest", "essential": True}],
        )["taskDefinition"]
    created = ecs.create_service(
        cluster="prod",
        serviceName="orders",
        taskDefinition=definition["taskDefinitionArn"],
        desiredCount=2,
    )["service"]
    return {"service": created, "task_definition": definition["taskDefinitionArn"]}


def stopped_task(number: int, definition: str, **extra: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "taskArn": f"arn:aws:ecs:us-east-1:123456789012:task/prod/{number:032x}",
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        "taskDefinitionArn": definition,
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "stoppedAt": NOW - timedelta(minutes=20 - number),
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "containers": [
            {
                "name": "app",
                "lastStatus": "STOPPED",
                "exitCode": 137,
                "reason": "OutOfMemoryError: Container killed due to memory usage",
            }
        ],
    }
    task.update(extra)
    return task


def fake_stopped(session: boto3.Session, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ListTasks/DescribeTasks answer ``tasks``; returns the requests DescribeTasks got."""
    asked: list[dict[str, Any]] = []
    fake_operation(session, "ecs", "ListTasks", {"taskArns": [t["taskArn"] for t in tasks]})

    def describe(request: dict[str, Any]) -> dict[str, Any]:
        asked.append(request)
        return {"tasks": [t for t in tasks if t["taskArn"] in request["tasks"]], "failures": []}

    fake_operation(session, "ecs", "DescribeTasks", describe)
    return asked


def put_memory(session: boto3.Session, percent: float) -> None:
    session.client("cloudwatch").put_metric_data(
        Namespace="AWS/ECS",
        MetricData=[
            {
                "MetricName": "MemoryUtilization",
                "Dimensions": [
                    {"Name": "ClusterName", "Value": "prod"},
                    {"Name": "ServiceName", "Value": "orders"},
                ],
                "Timestamp": NOW - timedelta(minutes=10),
                "Value": percent,
                "Unit": "Percent",
            }
        ],
    )


async def test_an_oom_loop_after_a_memory_cut_is_said_in_words(session: boto3.Session) -> None:
    seeded = seed(session)
    definition = seeded["task_definition"]
    asked = fake_stopped(session, [stopped_task(n, definition) for n in range(3)])
    put_memory(session, 99.0)
    alarm = alarm_on("ECS/ContainerInsights", ClusterName="prod", ServiceName="orders")
    ctx = context(session, now=NOW, alarm=alarm)

    out = await run(service, ctx)

    assert out.status is Status.WARN
    assert asked[0]["cluster"] == "prod" and len(asked[0]["tasks"]) == 3
    texts = [f.text for f in out.findings]
    assert texts[0] == "3 tasks stopped: out of memory (OutOfMemoryError, exit 137)"
    assert out.findings[0].severity is Severity.CRITICAL
    assert "Memory: orders:2 reserves 512 MB; MemoryUtilization peaked at 99%." in texts
    assert "The deployment of orders:2 changed memory 1024 → 512 MB." in texts
    assert out.summary.startswith("`orders`: ")
    assert "3 tasks stopped in the last 1h (3: out of memory (OutOfMemoryError, exit 137))" in (
        out.summary
    )
    assert out.data["out_of_memory"] == 3 and out.data["memory_mb"] == 512
    [change] = [e for e in out.evidence if isinstance(e, Change)]
    assert change.detail == "task definition orders:2, memory 1024 → 512 MB"
    [symptom] = [e for e in out.evidence if isinstance(e, Symptom)]
    assert symptom.since == NOW - timedelta(minutes=20)


async def test_routine_stops_are_no_failure_and_a_healthy_service_is_ok(
    session: boto3.Session,
) -> None:
    seeded = seed(session, memory=("512",))
    scaled_in = stopped_task(
        1,
        seeded["task_definition"],
        stopCode="ServiceSchedulerInitiated",
        stoppedReason="Scaling activity initiated by deployment",
        containers=[{"name": "app", "lastStatus": "STOPPED", "exitCode": 0}],
    )
    fake_stopped(session, [scaled_in])
    ctx = context(session, now=NOW)

    out = await run(service, ctx, cluster="prod", service="orders")

    assert not [e for e in out.evidence if isinstance(e, Symptom) and "stopped" in e.what]
    assert "no task failed in the last 1h" in out.summary
    assert out.data["stopped"] == 0


@pytest.mark.parametrize(
    ("containers", "stop_code", "reason", "said"),
    [
        ([{"name": "app", "exitCode": 137}], "EssentialContainerExited", "", "exit 137, SIGKILL"),
        ([{"name": "app", "exitCode": 1}], "EssentialContainerExited", "", "exited with code 1"),
        (
            [{"name": "app"}],
            "TaskFailedToStart",
            "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
            "failed to start: CannotPullContainerError",
        ),
        ([], "SpotInterruption", "Your Spot Task was interrupted.", "Spot capacity was reclaimed"),
    ],
)
def test_stop_causes_read_in_words(
    containers: list[dict[str, Any]], stop_code: str, reason: str, said: str
) -> None:
    task = {"containers": containers, "stopCode": stop_code, "stoppedReason": reason}
    assert said in stop_cause(task)


async def test_an_unknown_service_and_a_denied_call_say_what_is_wrong(
    session: boto3.Session,
) -> None:
    seed(session)
    with pytest.raises(StepError, match="no ECS service `billing` in cluster `prod`"):
        await run(service, context(session, now=NOW), cluster="prod", service="billing")
    fake_operation(
        session,
        "ecs",
        "DescribeServices",
        AwsFault("AccessDeniedException", DENIED.format(action="ecs:DescribeServices")),
    )
    with pytest.raises(StepError, match="ecs:DescribeServices"):
        await run(service, context(session, now=NOW), cluster="prod", service="orders")


async def test_without_cluster_or_service_it_asks_for_them(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="set `cluster`"):
        await run(service, context(session, now=NOW), service="orders")
