"""The step library. ``default_registry()`` is the one place that lists the step modules."""

from __future__ import annotations

from bot.steps.registry import Registry


def default_registry() -> Registry:
    """A registry holding every shipped step type."""
    from bot.steps import (
        autoscaling,
        cloudformation,
        cloudtrail,
        cloudwatch,
        cloudwatch_metric,
        codedeploy,
        ec2,
        ecs,
        elbv2,
        health,
        iam,
        lambda_,
        logs,
        quotas,
        rds,
        route53,
        sts,
    )

    registry = Registry()
    for module in (
        sts,
        health,
        cloudtrail,
        elbv2,
        cloudwatch,
        cloudwatch_metric,
        logs,
        autoscaling,
        ec2,
        lambda_,
        rds,
        cloudformation,
        iam,
        quotas,
        ecs,
        route53,
        codedeploy,
    ):
        for step in module.STEPS:
            registry.add(step)
    return registry
