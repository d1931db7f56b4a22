"""Contract tests over the whole step registry and the shipped playbooks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.playbooks.catalog import load_catalog
from bot.steps import default_registry
from bot.steps.base import StepType

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = default_registry()
STEPS = list(REGISTRY)
IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$")


def test_every_issue_step_is_registered() -> None:
    expected = {
        "health.events",
        "cloudtrail.recent_changes",
        "elbv2.target_health",
        "cloudwatch.alarms",
        "cloudwatch.alarm_history",
        "cloudwatch.metric",
        "logs.insights",
        "logs.filter",
        "autoscaling.group",
        "ec2.instance_status",
        "ec2.reachability",
        "lambda.function",
        "rds.instance",
        "cloudformation.stack_events",
        "sts.caller_identity",
        "iam.simulate",
        "quotas.service_quota",
    }
    assert expected <= set(REGISTRY.names())


@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_step_declares_docs_params_and_permissions(step: StepType) -> None:  # type: ignore[type-arg]
    assert step.summary and len(step.doc) > 40, "a step explains itself in its docstring"
    assert step.example.strip(), "a step shows a YAML example"
    assert step.params.model_config.get("extra") == "forbid"
    for name, field in step.params.model_fields.items():
        assert field.description, f"{step.name}.{name} has no description"
    assert step.permissions, "a step names the IAM actions it needs"
    for action in step.permissions:
        assert IAM_ACTION.match(action), f"{action!r} is not an IAM action"
    module = step.name.split(".")[0]
    assert step.run.__module__.startswith("bot.steps."), f"{step.name} lives in bot/steps/"
    assert module.replace("quotas", "quotas") in step.run.__module__ or step.name.startswith(
        "lambda."
    )


def test_every_step_is_used_by_a_shipped_playbook() -> None:
    catalog = load_catalog([ROOT / "playbooks"], REGISTRY)
    used = {spec.uses for playbook in catalog for spec in playbook.steps}
    assert set(REGISTRY.names()) - used == set()


def test_the_issue_playbooks_ship() -> None:
    catalog = load_catalog([ROOT / "playbooks"], REGISTRY)
    assert {
        "alarm-default",
        "alb-errors",
        "recent-changes",
        "health",
        "lambda-errors",
        "rds-health",
        "ec2-unreachable",
        "access-denied",
        "emergency",
    } <= set(catalog.names())
    assert not any(p.mutating for p in catalog), "shipped playbooks only read"
