"""The step registry: an instance, filled by explicit imports in ``bot.steps.default_registry``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from bot.errors import did_you_mean
from bot.steps.base import StepType


class UnknownStep(KeyError):
    def __init__(self, name: str, hint: str) -> None:
        super().__init__(name)
        self.message = f"unknown step type `{name}`.{hint}".rstrip(".") + (
            "" if hint else " (`triagebot steps` lists them)"
        )


class Registry:
    """Step types by name."""

    def __init__(self, steps: Iterable[StepType[Any]] = ()) -> None:
        self._steps: dict[str, StepType[Any]] = {}
        for step in steps:
            self.add(step)

    def add(self, step: StepType[Any]) -> None:
        if step.name in self._steps:
            raise ValueError(f"step type {step.name} registered twice")
        self._steps[step.name] = step

    def get(self, name: str) -> StepType[Any]:
        try:
            return self._steps[name]
        except KeyError:
            raise UnknownStep(name, did_you_mean(name, self._steps)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def __iter__(self) -> Iterator[StepType[Any]]:
        return iter(sorted(self._steps.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._steps)

    def names(self) -> list[str]:
        return sorted(self._steps)
