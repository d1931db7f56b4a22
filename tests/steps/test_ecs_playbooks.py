"""The shipped playbooks that read ECS: alarm-default looks at the service an alarm names (and
only then), ecs-tasks-stopping names the out-of-memory loop — run by the executor against moto
with the demo's hooks for what moto lacks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.demo.demo_aws import demo_session_factory
from bot.demo.seed import SeededIncident, seed_incident
from bot.executor import Executor
from bot.playbooks.loader import load_playbook
from bot.playbooks.params import resolve_params
from bot.results import RunResult, Status
from bot.steps import default_registry
from tests.steps.test_ecs import fake_stopped, seed, stopped_task

ROOT = Path(__file__).resolve().parent.parent.parent
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Seeded:
    incident: SeededIncident
    task_definition: str


def seed_all(session: boto3.Session) -> Seeded:
    """The demo's incident (its fakes answer Health, CloudTrail, alarm history) and `orders`."""
    return Seeded(seed_incident(None), str(seed(session)["task_definition"]))


async def run_playbook(name: str, alarm: Alarm, seeded: Seeded) -> RunResult:
    """``name`` run for ``alarm`` against moto (seeded with the demo's incident and the
    service of ``seed``), two of its tasks stopped out of memory."""
    demo = demo_session_factory(seeded.incident, now=NOW)

    def session() -> boto3.Session:
        made = demo()
        fake_stopped(made, [stopped_task(n, seeded.task_definition) for n in range(2)])
        return made

    registry = default_registry()
    playbook = load_playbook(ROOT / "playbooks" / f"{name}.yaml", registry)
    params = resolve_params(playbook, {}, {"alarm": alarm.template_context()})
    clients = AwsClients(AwsSettings(), session_factory=session)
    try:
        return await Executor(registry, clients, clock=lambda: NOW).run(
            playbook, params, alarm=alarm
        )
    finally:
        clients.close()


def ecs_alarm(**dimensions: str) -> Alarm:
    return Alarm(
        source=AlarmSource.ALARM,
        name="prod-web-5xx",
        state="ALARM",
        region="us-east-1",
        changed_at=NOW - timedelta(minutes=1),
        namespace="ECS/ContainerInsights",
        metric_name="RunningTaskCount",
        dimensions=dimensions,
    )


async def test_alarm_default_reads_the_ecs_service_the_alarm_names(session: boto3.Session) -> None:
    seeded = seed_all(session)
    run = await run_playbook(
        "alarm-default",
        ecs_alarm(ClusterName="prod", ServiceName="orders"),
        seeded,
    )
    [ecs] = [s for s in run.steps if s.step_id == "deployments"]
    assert ecs.status is Status.WARN, ecs.summary
    assert "2 tasks stopped" in ecs.summary

    other = await run_playbook(
        "alarm-default",
        ecs_alarm(LoadBalancer="app/web/50dc6c495c0c9188"),
        seeded,
    )
    [skipped] = [s for s in other.steps if s.step_id == "deployments"]
    assert skipped.status is Status.SKIPPED


async def test_ecs_tasks_stopping_says_out_of_memory(session: boto3.Session) -> None:
    seeded = seed_all(session)
    run = await run_playbook(
        "ecs-tasks-stopping",
        ecs_alarm(ClusterName="prod", ServiceName="orders"),
        seeded,
    )
    by_id = {s.step_id: s for s in run.steps}
    assert by_id["ecs"].findings[0].text == (
        "2 tasks stopped: out of memory (OutOfMemoryError, exit 137)"
    )
    assert by_id["deploys"].status is Status.SKIPPED
    assert by_id["changes"].status in (Status.OK, Status.WARN)
