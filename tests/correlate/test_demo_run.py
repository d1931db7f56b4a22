"""The bad-deploy scenario is what the real steps find: the shipped alb-errors playbook run
against the demo's AWS (moto in-process, the demo's hooks for what moto lacks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.correlate import likely_lines
from bot.demo.demo_aws import demo_session_factory
from bot.demo.seed import seed_incident
from bot.executor import Executor
from bot.playbooks.loader import load_playbook
from bot.steps import default_registry
from tests.correlate.scenarios import FOLDER, load

ROOT = Path(__file__).resolve().parent.parent.parent
NOW = datetime(2024, 5, 14, 9, 42, tzinfo=UTC)


async def test_the_demo_incident_correlates_to_the_recorded_lines(aws: None) -> None:
    incident = seed_incident(None)
    registry = default_registry()
    clients = AwsClients(AwsSettings(), session_factory=demo_session_factory(incident, now=NOW))
    alarm = Alarm(
        source=AlarmSource.ALARM,
        name=incident.alarm_name,
        state="ALARM",
        region=incident.region,
        account=incident.account,
        changed_at=NOW,
        namespace="AWS/ApplicationELB",
        metric_name="HTTPCode_Target_5XX_Count",
        dimensions={"LoadBalancer": incident.load_balancer_dimension},
    )
    playbook = load_playbook(ROOT / "playbooks" / "alb-errors.yaml", registry)
    params = {"load_balancer": incident.load_balancer_dimension, "lookback": timedelta(hours=1)}
    try:
        run = await Executor(registry, clients, clock=lambda: NOW).run(
            playbook, {**params, "log_group": ""}, alarm=alarm
        )
    finally:
        clients.close()

    recorded = load(FOLDER / "bad-deploy.json")
    assert likely_lines(run.steps, alarm, now=NOW) == recorded.expected
    assert recorded.expected[0].startswith(
        "Likely: `deploy-pipeline/web-release-4711` changed target group `prod-web-tg` "
        "(ModifyTargetGroup; before it RegisterTargets) 18 min before the alarm; "
        "since then 2 of 3 targets fail health checks with 404"
    )
