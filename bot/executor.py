"""Runs one playbook: steps concurrently as their ``needs`` allow, each under its own timeout,
the whole run under the playbook's deadline. A step's failure becomes that step's result; the
run itself never raises because of a step. The same deadlines bound the step's AWS calls
(``AwsClients.deadline``): a call never outlives the step that made it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bot.alarms.model import Alarm
from bot.aws import AwsClients, CallStats
from bot.durations import format_duration
from bot.errors import StepError
from bot.playbooks.conditions import skip_reason
from bot.playbooks.schema import Playbook, StepSpec
from bot.playbooks.templating import (
    TemplateFailure,
    evaluate_condition,
    is_template,
    render_string,
    render_value,
)
from bot.results import RunResult, Status, StepOutput, StepResult
from bot.run_updates import OnUpdate, RunUpdates
from bot.step_needs import failed_needs, never_met, skipped_because
from bot.steps.base import StepContext, StepParams, StepType
from bot.steps.registry import Registry, UnknownStep

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class Executor:
    """Runs playbooks with the step types of ``registry`` against ``aws``."""

    def __init__(
        self,
        registry: Registry,
        aws: AwsClients,
        *,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._registry = registry
        self._aws = aws
        self._clock = clock

    async def run(
        self,
        playbook: Playbook,
        params: Mapping[str, Any],
        *,
        alarm: Alarm | None = None,
        requested_by: str = "",
        run_id: str | None = None,
        on_update: OnUpdate | None = None,
    ) -> RunResult:
        """Run ``playbook`` with already-resolved ``params``; return the finished RunResult.

        ``on_update`` receives a snapshot whenever steps start or finish (``bot.run_updates``:
        one at a time, in order, never holding up a step). The final, finished result is the
        return value (not passed to ``on_update``).
        """
        state = _Run(
            executor=self,
            playbook=playbook,
            params=params,
            alarm=alarm,
            requested_by=requested_by,
            run_id=run_id or uuid.uuid4().hex[:12],
            on_update=on_update,
        )
        return await state.execute()


class _Run:
    """One run's state: the steps' results so far and how to announce them."""

    def __init__(
        self,
        *,
        executor: Executor,
        playbook: Playbook,
        params: Mapping[str, Any],
        alarm: Alarm | None,
        requested_by: str,
        run_id: str,
        on_update: OnUpdate | None,
    ) -> None:
        self.registry = executor._registry
        self.aws = executor._aws
        self.clock = executor._clock
        self.playbook = playbook
        self.params = dict(params)
        self.alarm = alarm
        self.requested_by = requested_by
        self.run_id = run_id
        self.started_at = self.clock()
        self.results: dict[str, StepResult] = {
            spec.id: StepResult(step_id=spec.id, uses=spec.uses, status=Status.PENDING)
            for spec in playbook.steps
        }
        self.done: dict[str, asyncio.Event] = {spec.id: asyncio.Event() for spec in playbook.steps}
        self.started: dict[str, float] = {}  # perf_counter when each step began running
        self.stats: dict[str, CallStats] = {}
        self.updates = (
            RunUpdates(on_update, self.snapshot, {"run_id": run_id, "playbook": playbook.name})
            if on_update
            else None
        )

    # -- the run ------------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        if self.updates is not None:
            self.updates.start()
        with self.aws.deadline(self.playbook.timeout.total_seconds()):  # the steps inherit it
            tasks = [
                asyncio.create_task(self._step(spec), name=f"{self.run_id}:{spec.id}")
                for spec in self.playbook.steps
            ]
        try:
            _, pending = await asyncio.wait(tasks, timeout=self.playbook.timeout.total_seconds())
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            self._deadline_passed()
            if self.updates is not None:
                await self.updates.flush()
        finally:
            for task in tasks:
                task.cancel()
            if self.updates is not None:
                self.updates.cancel()
        return self.snapshot(finished_at=self.clock())

    def _deadline_passed(self) -> None:
        """Steps still pending or running when the playbook's deadline passed time out."""
        summary = f"the playbook's {_say(self.playbook.timeout)} deadline passed"
        now = time.perf_counter()
        for step_id, result in list(self.results.items()):
            if result.status.finished:
                continue
            started, stats = self.started.get(step_id), self.stats.get(step_id)
            timed_out = StepResult(
                step_id=step_id,
                uses=result.uses,
                status=Status.TIMEOUT,
                summary=summary,
                duration_s=now - started if started is not None else 0.0,
                attempts=stats.attempts if stats else 0,
                retries=stats.retries if stats else 0,
            )
            self._finish(step_id, timed_out)

    def snapshot(self, finished_at: datetime | None = None) -> RunResult:
        """The run as it stands now (immutable)."""
        return RunResult(
            run_id=self.run_id,
            playbook=self.playbook.name,
            title=self.playbook.display_title,
            params={k: display_value(v) for k, v in self.params.items() if v not in (None, "")},
            steps=tuple(self.results[spec.id] for spec in self.playbook.steps),
            started_at=self.started_at,
            finished_at=finished_at,
            requested_by=self.requested_by,
        )

    # -- one step -----------------------------------------------------------------------------

    async def _step(self, spec: StepSpec) -> None:
        """Wait for ``needs``, then prepare and run the step; always ends in ``_finish``."""
        never = never_met(self.playbook, spec)
        if never is not None:
            self._finish(spec.id, _plain(spec, Status.ERROR, never))
            return
        for need in spec.needs:
            await self.done[need].wait()
        failed = failed_needs(spec, self.results)
        if failed:
            self._finish(
                spec.id, _plain(spec, Status.SKIPPED, skipped_because(failed, self.results))
            )
            return
        stats = CallStats()
        try:
            prepared = self._prepare(spec, stats)
            if isinstance(prepared, StepResult):
                self._finish(spec.id, prepared)
                return
            result = await self._execute(spec, *prepared)
        except Exception:
            logger.exception(
                "step %s crashed",
                spec.id,
                extra={"run_id": self.run_id, "playbook": self.playbook.name, "step": spec.id},
            )
            result = _plain(spec, Status.ERROR, f"internal error in step (run id {self.run_id})")
        started = self.started.get(spec.id)
        self._finish(
            spec.id,
            _result(
                result,
                duration_s=time.perf_counter() - started if started is not None else 0.0,
                attempts=stats.attempts,
                retries=stats.retries,
            ),
        )

    def _prepare(
        self, spec: StepSpec, stats: CallStats
    ) -> tuple[StepType[Any], StepContext, StepParams] | StepResult:
        """Evaluate ``when``, pick the target, render and validate ``with``; or say why not."""
        try:
            step_type = self.registry.get(spec.uses)
        except UnknownStep as exc:
            return _plain(spec, Status.ERROR, exc.message)
        variables = self.template_context()
        try:
            if spec.when is not None and not evaluate_condition(spec.when, variables):
                return _plain(spec, Status.SKIPPED, skip_reason(spec.when, variables))
            target = self.aws.target(
                region=_rendered(spec.region, variables)
                or (self.alarm.region if self.alarm else None)
                or self.aws.default_region,
                account=_rendered(spec.account, variables)
                or (self.aws.account_named_for(self.alarm.account) if self.alarm else None),
            )
            rendered = render_value(spec.with_, variables)
        except TemplateFailure as exc:
            return _plain(spec, Status.ERROR, str(exc))
        try:
            params = step_type.params.model_validate(rendered)
        except ValidationError as exc:
            return _plain(spec, Status.ERROR, describe_invalid(step_type, exc))
        context = StepContext(
            aws=self.aws, target=target, now=self.started_at, alarm=self.alarm, stats=stats
        )
        return step_type, context, params

    async def _execute(
        self, spec: StepSpec, step_type: StepType[Any], context: StepContext, params: StepParams
    ) -> StepResult:
        """Run the step function under the step's timeout; expected failures become results."""
        self.started[spec.id] = time.perf_counter()
        self.stats[spec.id] = context.stats
        self._set(spec.id, _plain(spec, Status.RUNNING, ""))
        seconds = spec.timeout.total_seconds()
        timer = asyncio.timeout(seconds)
        try:
            with self.aws.deadline(seconds):
                async with timer:
                    output = await step_type.run(context, params)
        except TimeoutError:
            if not timer.expired():
                raise
            return _plain(spec, Status.TIMEOUT, f"timed out after {_say(spec.timeout)}")
        except StepError as exc:
            return _plain(spec, Status.ERROR, exc.user_message)
        except TemplateFailure as exc:
            return _plain(spec, Status.ERROR, str(exc))
        if not isinstance(output, StepOutput):
            raise TypeError(f"step {spec.uses} returned {type(output).__name__}, not StepOutput")
        return StepResult.from_output(spec.id, spec.uses, output, duration_s=0.0)

    def template_context(self) -> dict[str, Any]:
        """What ``when`` and ``with`` templates see."""
        return {
            "alarm": self.alarm.template_context() if self.alarm else None,
            "params": dict(self.params),
            "steps": {
                step_id: {
                    **result.data,
                    "status": str(result.status),
                    "summary": result.summary,
                }
                for step_id, result in self.results.items()
                if result.status.finished
            },
            "now": self.started_at,
        }

    # -- state changes and updates ------------------------------------------------------------

    def _set(self, step_id: str, result: StepResult) -> None:
        self.results[step_id] = result
        if self.updates is not None:
            self.updates.changed()

    def _finish(self, step_id: str, result: StepResult) -> None:
        self._set(step_id, result)
        self.done[step_id].set()
        logger.info(
            "step %s %s in %.2fs",
            step_id,
            result.status,
            result.duration_s,
            extra={
                "run_id": self.run_id,
                "playbook": self.playbook.name,
                "step": step_id,
                "status": str(result.status),
                "duration_s": round(result.duration_s, 3),
            },
        )


def _plain(spec: StepSpec, status: Status, summary: str) -> StepResult:
    """A result with nothing but a status and a sentence."""
    return StepResult(step_id=spec.id, uses=spec.uses, status=status, summary=summary)


def _result(base: StepResult, *, duration_s: float, attempts: int, retries: int) -> StepResult:
    """``base`` with the step's timing and request counts filled in."""
    return dataclasses.replace(base, duration_s=duration_s, attempts=attempts, retries=retries)


def _rendered(value: str | None, variables: Mapping[str, Any]) -> str | None:
    """A step's ``region`` / ``account``, which may be templates."""
    if value is None:
        return None
    rendered = render_string(value, variables) if is_template(value) else value
    return str(rendered) if rendered else None


def describe_invalid(step_type: StepType[Any], exc: ValidationError) -> str:
    """A pydantic error about a step's ``with``, as a sentence naming each field."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "with"
        if error["type"] == "extra_forbidden":
            known = ", ".join(f"`{name}`" for name in step_type.params.model_fields) or "none"
            problems.append(f"`{field}` is not a parameter of this step (parameters: {known})")
        elif error["type"] == "missing":
            problems.append(f"`{field}` is required")
        else:
            got = repr(error["input"])
            got = got if len(got) <= 60 else got[:59] + "…"
            problems.append(f"`{field}`: {error['msg']} (got {got})")
    return f"invalid `with` for `{step_type.name}`: " + "; ".join(problems)


def display_value(value: Any) -> str:
    """A resolved parameter the way a person wrote it: ``1h``, ``a, b``, ``true``."""
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(display_value(item) for item in value)
    if value is None:
        return ""
    return str(value)


def _say(value: timedelta) -> str:
    """A timeout as a person says it; sub-second and fractional values keep their decimals."""
    seconds = value.total_seconds()
    if seconds >= 60 or seconds == int(seconds):
        return format_duration(value)
    return f"{seconds:g}s"
