"""The one resource a person named, by its name, its ARN or the form an alarm dimension has.

``web``, ``app/web/50dc6c495c0c9188`` (a LoadBalancer dimension) and the load balancer's ARN all
name one load balancer. ``describe_one`` asks AWS for it the way the API takes each form (an
ARN where the API takes ARNs, else the name inside it: ``bot.resource_names``) and, when AWS has
no such resource, says so in words: "There is no load balancer `web` in us-east-1".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import StepError
from bot.resource_names import resource_name
from bot.steps.base import StepContext


@dataclass(frozen=True)
class ResourceKind:
    """How one kind of resource is described by name or ARN."""

    words: str  # "load balancer"
    service: str
    method: str  # "describe_load_balancers"
    by_name: str  # the argument naming it: "Names"
    by_arn: str | None = None  # the argument for an ARN (may be ``by_name``); None: names only
    listed: str | None = None  # the answer's list of matches; None: the answer is the resource
    many: bool = True  # the argument is a list
    dimension_path: bool = False  # alarms name it by a path (app/NAME/ID): the API takes NAME
    missing: frozenset[str] = frozenset()  # the error codes AWS answers "no such resource" with
    hint: str = ""  # how else to name it, for the not-found sentence


async def describe_one(ctx: StepContext, kind: ResourceKind, given: str) -> dict[str, Any]:
    """AWS's description of the ``kind`` resource ``given`` names; a StepError when none."""
    argument, value = kind.by_name, given
    if given.startswith("arn:") and kind.by_arn:
        argument = kind.by_arn
    elif given.startswith("arn:") or (kind.dimension_path and "/" in given):
        value = resource_name(given)
    hint = f" ({kind.hint})" if kind.hint else ""
    missing = StepError(f"There is no {kind.words} `{given}` in {ctx.target.region}{hint}.")
    try:
        found = await ctx.call(
            kind.service, kind.method, **{argument: [value] if kind.many else value}
        )
    except StepError as exc:
        if exc.aws_code in kind.missing:
            raise missing from exc
        raise
    if kind.listed is None:
        return found
    matches: list[dict[str, Any]] = found.get(kind.listed, [])
    if not matches:
        raise missing
    return matches[0]
