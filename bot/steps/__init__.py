"""The step library. ``default_registry()`` is the one place that lists the step modules."""

from __future__ import annotations

from bot.steps.registry import Registry


def default_registry() -> Registry:
    """A registry holding every shipped step type."""
    from bot.steps import cloudtrail, cloudwatch, elbv2, health, logs, sts

    registry = Registry()
    for module in (sts, health, cloudtrail, elbv2, cloudwatch, logs):
        for step in module.STEPS:
            registry.add(step)
    return registry
