"""Test-only step types, so the loader's tests do not depend on the shipped steps."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from bot.durations import Duration
from bot.results import StepOutput
from bot.steps.base import StepContext, StepParams, step
from bot.steps.registry import Registry


class ProbeParams(StepParams):
    """A required string, an int with a default and a duration with a default."""

    target: str = Field(description="What to probe.")
    count: int = Field(default=3, description="How many times.")
    lookback: Duration = Field(default=timedelta(hours=1), description="How far back to look.")


class RebootParams(StepParams):
    instance: str


@step("test.probe", params=ProbeParams, permissions=("test:Probe",))
async def probe(ctx: StepContext, params: ProbeParams) -> StepOutput:
    """Probe something.

    Example:
        - id: probe
          uses: test.probe
          with: {target: web, count: 2}
    """
    return StepOutput(summary=f"probed {params.target}", data={"hits": params.count})


@step("test.reboot", params=RebootParams, permissions=("test:Reboot",), mutating=True)
async def reboot(ctx: StepContext, params: RebootParams) -> StepOutput:
    """Reboot an instance (changes AWS)."""
    return StepOutput(summary=f"rebooted {params.instance}")


def fake_registry() -> Registry:
    return Registry([probe, reboot])
