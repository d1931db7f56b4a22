"""A step's ``needs`` during a run: whether they can ever be met, which of them failed, and
the sentence a step skipped because of them shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.playbooks.checks import needs_cycles
from bot.playbooks.schema import Playbook, StepSpec
from bot.results import Status, StepResult

_NOT_MET = (Status.ERROR, Status.TIMEOUT, Status.SKIPPED)


def never_met(playbook: Playbook, spec: StepSpec) -> str | None:
    """Why ``spec``'s ``needs`` can never be met (a missing step, a cycle), or None."""
    ids = {step.id for step in playbook.steps}
    for need in spec.needs:
        if need not in ids:
            return f"needs `{need}`, which is not a step in this playbook"
    if _in_cycle(playbook, spec.id):
        return "its `needs` form a cycle, so it can never start"
    return None


def failed_needs(spec: StepSpec, results: Mapping[str, StepResult]) -> list[str]:
    """The finished ``needs`` of ``spec`` that failed, timed out or were skipped."""
    return [need for need in spec.needs if results[need].status in _NOT_MET]


def skipped_because(failed: Sequence[str], results: Mapping[str, StepResult]) -> str:
    """``skipped: needs `x`, which failed`` (or ``which was skipped``)."""
    names = ", ".join(f"`{need}`" for need in failed)
    skipped = [results[need].status is Status.SKIPPED for need in failed]
    if all(skipped):
        what = "which was skipped" if len(failed) == 1 else "which were skipped"
    elif any(skipped):
        what = "which failed or were skipped"
    else:
        what = "which failed"
    return f"skipped: needs {names}, {what}"


def _in_cycle(playbook: Playbook, start: str) -> bool:
    """Whether ``start`` is on a cycle of ``needs`` (one check of the graph: the loader's)."""
    graph = {spec.id: spec.needs for spec in playbook.steps}
    return any(start in cycle for cycle in needs_cycles(graph, list(graph)))
