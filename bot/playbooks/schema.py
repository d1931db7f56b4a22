"""The playbook file format (DESIGN.md "Playbooks"), as pydantic models with extra="forbid"."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.durations import Duration

NAME = r"^[a-z0-9][a-z0-9-]*$"
STEP_ID = r"^[a-z_][a-z0-9_]*$"
DEFAULT_STEP_TIMEOUT = timedelta(seconds=10)
DEFAULT_RUN_TIMEOUT = timedelta(seconds=120)

ParamType = Literal["string", "int", "float", "bool", "duration", "list"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ParamSpec(_Model):
    """One playbook parameter: ``/triage <playbook> key=value`` sets it."""

    type: ParamType = "string"
    default: Any = None  # may be a template: "{{ alarm.dimensions.LoadBalancer }}"
    description: str = ""
    required: bool = False  # required with no default: the caller must give it
    choices: tuple[str, ...] = ()


class StepSpec(_Model):
    """One step of a playbook."""

    id: str = Field(pattern=STEP_ID)
    uses: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    needs: tuple[str, ...] = ()
    when: str | None = None
    timeout: Duration = DEFAULT_STEP_TIMEOUT
    region: str | None = None  # defaults to the alarm's region, else aws.region
    account: str | None = None  # a name from [[aws.accounts]]; defaults to the alarm's account


class Playbook(_Model):
    """A validated playbook."""

    name: str = Field(pattern=NAME)
    title: str = ""
    description: str = ""
    timeout: Duration = DEFAULT_RUN_TIMEOUT
    allow: tuple[str, ...] = ()  # Slack user ids (U…/W…) or user-group ids (S…)
    mutating: bool = False
    # Link buttons on an incident's root and run message; templates of the alarm
    # (``bot.playbooks.links``). A route's own link wins over its playbook's.
    runbook_url: str = ""
    dashboard_url: str = ""
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    steps: tuple[StepSpec, ...] = Field(min_length=1)
    source: str = Field(default="", exclude=True)  # the file it came from

    @field_validator("params")
    @classmethod
    def _param_names(cls, value: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for key in value:
            if not re.match(STEP_ID, key):
                raise ValueError(f"parameter name {key!r} must be lower_snake_case")
        return value

    @property
    def display_title(self) -> str:
        return self.title or self.name

    def step(self, step_id: str) -> StepSpec:
        for spec in self.steps:
            if spec.id == step_id:
                return spec
        raise KeyError(step_id)
