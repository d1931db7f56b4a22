"""Permissions checked against behaviour: every AWS operation a step calls is one it declares.

``triagebot iam-policy`` is built from what the steps declare; a step calling an operation it
does not declare would fail in an account that runs that policy. Each step's representative
runs (its own tests' fullest paths, each against a fresh moto) are recorded with a botocore
``provide-client-params`` hook, which every call passes through, faked or not (only the calls
made on AwsClients' threads: the test's own seeding is no step's doing), and each operation
called must map to an IAM action the step declares (cloud-custodian's
``tests/test_permissions.py`` does the same for its actions).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import boto3
import pytest
from botocore import handlers, xform_name
from botocore.model import OperationModel
from moto import mock_aws

from bot.aws_errors import iam_action
from bot.steps import default_registry
from bot.steps.base import StepType
from bot.steps.sts import caller_identity
from tests.steps import (
    test_autoscaling,
    test_cloudformation,
    test_cloudtrail,
    test_cloudwatch,
    test_cloudwatch_metric,
    test_codedeploy,
    test_ec2,
    test_ec2_reachability,
    test_ecs,
    test_elbv2,
    test_health,
    test_iam,
    test_lambda,
    test_logs,
    test_quotas,
    test_rds,
    test_route53,
)
from tests.steps.stepctx import context, run

Run = Callable[[boto3.Session], Awaitable[None]]
REGISTRY = default_registry()
BOT_THREADS = "aws_"  # the bot calls AWS only on AwsClients' pool (bot.aws_pool)


async def _caller_identity(session: boto3.Session) -> None:
    await run(caller_identity, context(session))


# For each step, the runs that take it down its fullest paths (they run that step alone).
REPRESENTATIVE: dict[str, tuple[Run, ...]] = {
    "autoscaling.group": (test_autoscaling.test_unhealthy_instance_and_failed_spot_launch,),
    "cloudformation.stack_events": (
        test_cloudformation.test_recently_created_stacks_are_listed_without_a_name,
        test_cloudformation.test_failed_update_is_flagged_with_its_reason,
    ),
    "cloudtrail.recent_changes": (test_cloudtrail.test_changes_to_the_alarms_resources_come_first,),
    "cloudwatch.alarms": (test_cloudwatch.test_alarms_in_alarm_with_reasons,),
    "cloudwatch.alarm_history": (test_cloudwatch.test_history_of_the_runs_alarm,),
    "cloudwatch.metric": (test_cloudwatch_metric.test_metric_defaults_to_the_alarms_metric,),
    "codedeploy.deployments": (
        test_codedeploy.test_every_group_of_the_application_is_read,
        test_codedeploy.test_a_failed_deployment_is_critical_with_its_error,
    ),
    "ec2.instance_status": (
        test_ec2.test_running_instances_by_tag_are_ok,
        test_ec2.test_impaired_checks_and_scheduled_retirement,
    ),
    "ec2.reachability": (test_ec2_reachability.test_a_correct_public_subnet_is_reachable,),
    "ecs.service": (test_ecs.test_an_oom_loop_after_a_memory_cut_is_said_in_words,),
    "elbv2.target_health": (
        test_elbv2.test_unhealthy_targets_with_reasons_are_a_warning,
        test_elbv2.test_load_balancer_without_target_groups,
    ),
    "health.events": (
        test_health.test_open_issue_in_region_is_a_warning_with_its_latest_description,
    ),
    "iam.simulate": (
        test_iam.test_denied_actions_are_explained_first,
        test_iam.test_default_principal_is_the_bots_own_role_with_its_path,
    ),
    "lambda.function": (test_lambda.test_errors_timeouts_and_memory_pressure_warn,),
    "logs.filter": (test_logs.test_filter_latest_matches_first,),
    "logs.insights": (
        test_logs.test_insights_rows_become_a_table,
        test_logs.test_insights_slow_query_is_stopped_and_partial_rows_shown,
    ),
    "quotas.service_quota": (
        test_quotas.test_usage_near_the_quota_warns,
        test_quotas.test_quota_found_by_name_case_insensitively,
        test_quotas.test_unchanged_quota_falls_back_to_the_aws_default,
    ),
    "rds.instance": (test_rds.test_low_storage_high_cpu_and_maintenance,),
    "route53.health_checks": (test_route53.test_a_domain_failing_from_most_regions_is_critical,),
    "sts.caller_identity": (_caller_identity,),
}


def test_every_step_has_a_representative_run() -> None:
    assert set(REPRESENTATIVE) == set(REGISTRY.names())


async def recorded_actions(runs: tuple[Run, ...]) -> set[str]:
    """The IAM actions of the operations ``runs`` call, each run in a fresh moto."""
    actions: set[str] = set()

    def record(model: OperationModel, **_: Any) -> None:
        if not threading.current_thread().name.startswith(BOT_THREADS):
            return  # the test seeding moto, not the step
        service = model.service_model.service_name
        actions.add(iam_action(service, xform_name(model.name), model.name))

    # A builtin handler: every botocore session made meanwhile has it, the runs' own too.
    hook = ("provide-client-params", record)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(handlers, "BUILTIN_HANDLERS", [*handlers.BUILTIN_HANDLERS, hook])
        for representative in runs:
            with mock_aws():
                await representative(boto3.Session(region_name="us-east-1"))
    return actions


def undeclared(step: StepType[Any], called: set[str]) -> str | None:
    """What to tell the author of ``step`` when it calls actions it does not declare."""
    missing = sorted(called - set(step.permissions))
    if not missing:
        return None
    return (
        f"{step.name} calls {', '.join(missing)} without declaring it: add it to the step's "
        "permissions (triagebot iam-policy is built from them)"
    )


@pytest.mark.parametrize("name", sorted(REPRESENTATIVE))
async def test_a_step_calls_only_what_it_declares(name: str) -> None:
    step = REGISTRY.get(name)
    called = await recorded_actions(REPRESENTATIVE[name])

    assert called, f"{name}'s representative runs called no AWS operation"
    problem = undeclared(step, called)
    assert problem is None, problem
    unused = sorted(set(step.permissions) - called)
    assert not unused, (
        f"{name} declares {', '.join(unused)} but its representative runs never call it: "
        "add a run here that does, or drop it from the step's permissions"
    )


async def test_a_call_left_out_of_the_permissions_is_named() -> None:
    step = REGISTRY.get("elbv2.target_health")
    called = await recorded_actions(REPRESENTATIVE[step.name])
    action = "elasticloadbalancing:DescribeTargetHealth"
    narrower = dataclasses.replace(
        step, permissions=tuple(a for a in step.permissions if a != action)
    )

    assert undeclared(narrower, called) == (
        f"elbv2.target_health calls {action} without declaring it: add it to the step's "
        "permissions (triagebot iam-policy is built from them)"
    )
