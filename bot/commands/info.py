"""``triagebot steps`` and ``triagebot iam-policy``: what the bot can do and what it needs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.config import Settings
from bot.docs import field_default, field_type
from bot.iam_policy import build_policy
from bot.playbooks.catalog import load_catalog
from bot.steps import default_registry
from bot.steps.base import StepType


async def iam_policy(args: argparse.Namespace, settings: Settings) -> int:
    registry = default_registry()
    catalog = load_catalog(settings.playbook_dirs(), registry)
    print(json.dumps(build_policy(settings, catalog, registry), indent=2))
    return 0


async def steps(args: argparse.Namespace, settings: Settings) -> int:
    for step in default_registry():
        print(describe_step(step))
        print()
    return 0


def describe_step(step: StepType[Any]) -> str:
    """A step as ``triagebot steps`` lists it: summary, parameters, IAM actions."""
    lines = [f"{step.name}{'  (mutating)' if step.mutating else ''}", f"  {step.summary}"]
    fields = step.params.model_fields
    if fields:
        lines.append("  parameters:")
        for name, field in fields.items():
            default = field_default(field).replace("`", "")
            if default == "—":
                default = "optional"
            elif default != "required":
                default = f"default {default}"
            kind = field_type(field).replace("`", "")
            description = f" — {field.description}" if field.description else ""
            lines.append(f"    {field.alias or name}: {kind}, {default}{description}")
    lines.append(f"  IAM: {', '.join(step.permissions)}")
    return "\n".join(lines)
