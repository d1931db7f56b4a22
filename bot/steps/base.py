"""What a step is: a documented params model, the IAM actions it needs, and an async function.

A step reads AWS through its ``StepContext`` and returns a ``StepOutput``. It may raise
``StepError`` (or let ``AwsClients`` raise it) — the executor turns that into an error result for
that step alone. Steps never touch Slack.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from bot.alarms.model import Alarm
from bot.aws import AwsClients, CallStats, Target
from bot.results import StepOutput


class StepParams(BaseModel):
    """Base of every step's params model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=StepParams)


@dataclass
class StepContext:
    """What a running step may use: AWS at its target, the alarm (if any), and the clock."""

    aws: AwsClients
    target: Target
    now: datetime
    alarm: Alarm | None = None
    stats: CallStats = field(default_factory=CallStats)

    async def call(self, service: str, method: str, **kwargs: Any) -> dict[str, Any]:
        """One AWS call at this step's account and region, counted in the step's stats."""
        return await self.aws.call(service, method, self.target, self.stats, **kwargs)

    async def paginate(
        self, service: str, method: str, *, max_pages: int = 10, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Pages of a paginated AWS call (each page counted and rate-limited)."""
        return await self.aws.paginate(
            service, method, self.target, self.stats, max_pages=max_pages, **kwargs
        )


StepFunction = Callable[[StepContext, P], Awaitable[StepOutput]]


@dataclass(frozen=True)
class StepType(Generic[P]):
    """A registered step type, e.g. ``elbv2.target_health``."""

    name: str
    params: type[P]
    permissions: tuple[str, ...]
    run: StepFunction[P]
    doc: str
    example: str
    mutating: bool = False

    @property
    def summary(self) -> str:
        return self.doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def step(
    name: str,
    *,
    params: type[P],
    permissions: tuple[str, ...],
    mutating: bool = False,
) -> Callable[[StepFunction[P]], StepType[P]]:
    """Declare a step type. The function's docstring is its documentation; an ``Example:`` section
    in it (indented YAML) is its example and must be a valid playbook step."""

    def wrap(fn: StepFunction[P]) -> StepType[P]:
        doc = inspect.cleandoc(fn.__doc__ or "")
        body, _, example = doc.partition("Example:")
        return StepType(
            name=name,
            params=params,
            permissions=permissions,
            run=fn,
            doc=body.strip(),
            example=inspect.cleandoc(example) if example else "",
            mutating=mutating,
        )

    return wrap
