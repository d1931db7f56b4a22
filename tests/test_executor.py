"""The executor: concurrency, needs/when, timeouts, templating, isolation of failures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.errors import StepError
from bot.executor import Executor
from bot.playbooks.schema import Playbook
from bot.results import RunResult, Status, StepOutput, StepResult
from bot.steps import default_registry
from bot.steps.base import StepContext, StepParams, step
from bot.steps.registry import Registry

# -- test-only step types ---------------------------------------------------------------------


class SleepParams(StepParams):
    seconds: float = 0.0


@step("test.sleep", params=SleepParams, permissions=())
async def sleep_step(ctx: StepContext, params: SleepParams) -> StepOutput:
    """Sleeps, then reports how long it slept."""
    await asyncio.sleep(params.seconds)
    return StepOutput(summary=f"slept {params.seconds}s", data={"slept": params.seconds})


class FailParams(StepParams):
    message: str = "the load balancer does not exist"


@step("test.fail", params=FailParams, permissions=())
async def fail_step(ctx: StepContext, params: FailParams) -> StepOutput:
    """Raises a StepError, the way AwsClients does when AWS says no."""
    raise StepError(params.message)


@step("test.crash", params=StepParams, permissions=())
async def crash_step(ctx: StepContext, params: StepParams) -> StepOutput:
    """A bug: raises something that is not a BotError."""
    raise RuntimeError("boom: a bug in a step")


class DataParams(StepParams):
    count: int = 0
    name: str = ""


@step("test.data", params=DataParams, permissions=())
async def data_step(ctx: StepContext, params: DataParams) -> StepOutput:
    """Returns what it was given, plus where it ran, as data."""
    status = Status.WARN if params.count > 0 else Status.OK
    return StepOutput(
        summary=f"{params.name}: {params.count} unhealthy",
        status=status,
        data={"unhealthy": params.count, "name": params.name, "region": ctx.target.region},
    )


@pytest.fixture
def registry() -> Registry:
    return Registry([sleep_step, fail_step, crash_step, data_step])


@pytest.fixture
def aws_clients() -> Iterator[AwsClients]:
    clients = AwsClients(AwsSettings(region="eu-west-1"))
    yield clients
    clients.close()


@pytest.fixture
def executor(registry: Registry, aws_clients: AwsClients) -> Executor:
    return Executor(registry, aws_clients)


def playbook(steps: list[dict[str, Any]], **extra: Any) -> Playbook:
    return Playbook.model_validate({"name": "test-book", "steps": steps, **extra})


def by_id(run: RunResult) -> dict[str, StepResult]:
    return {s.step_id: s for s in run.steps}


# -- behaviour --------------------------------------------------------------------------------


async def test_independent_steps_run_concurrently(executor: Executor) -> None:
    book = playbook(
        [{"id": f"s{i}", "uses": "test.sleep", "with": {"seconds": 1.0}} for i in range(3)]
    )
    began = time.perf_counter()
    run = await executor.run(book, {})
    elapsed = time.perf_counter() - began
    # One after another would take 3 s; together about 1 s. The bound sits just under the
    # failure it catches, so a loaded machine does not trip it.
    assert elapsed < 2.9, f"3 steps of 1 s took {elapsed:.2f}s: they did not overlap"
    assert [s.status for s in run.steps] == [Status.OK] * 3
    assert all(0.95 < s.duration_s < 2.9 for s in run.steps)
    assert run.finished and run.status is Status.OK


async def test_a_step_waits_for_what_it_needs(executor: Executor) -> None:
    order: list[str] = []

    async def record(update: RunResult) -> None:
        for s in update.steps:
            if s.status is Status.RUNNING and s.step_id not in order:
                order.append(s.step_id)

    book = playbook(
        [
            {"id": "later", "uses": "test.sleep", "needs": ["first"], "with": {"seconds": 0.05}},
            {"id": "first", "uses": "test.sleep", "with": {"seconds": 0.2}},
        ]
    )
    began = time.perf_counter()
    run = await executor.run(book, {}, on_update=record)
    assert time.perf_counter() - began >= 0.25  # sequential, not concurrent
    assert order == ["first", "later"]
    assert [s.step_id for s in run.steps] == ["later", "first"]  # playbook order kept
    assert all(s.status is Status.OK for s in run.steps)


async def test_when_false_skips_the_step(executor: Executor) -> None:
    book = playbook(
        [
            {"id": "targets", "uses": "test.data", "with": {"count": 0, "name": "tg"}},
            {
                "id": "errors",
                "uses": "test.data",
                "needs": ["targets"],
                "when": "{{ steps.targets.unhealthy > 0 }}",
            },
            {
                "id": "always",
                "uses": "test.data",
                "needs": ["targets"],
                "when": "steps.targets.status == 'ok'",
            },
        ]
    )
    run = await executor.run(book, {})
    steps = by_id(run)
    assert steps["errors"].status is Status.SKIPPED
    assert steps["errors"].summary == (
        "skipped: runs only when `unhealthy` from step `targets` is more than 0; it is 0"
    )
    assert steps["always"].status is Status.OK


async def test_a_step_whose_need_failed_is_skipped(executor: Executor) -> None:
    book = playbook(
        [
            {"id": "broken", "uses": "test.fail"},
            {"id": "after", "uses": "test.data", "needs": ["broken"]},
            {"id": "after_after", "uses": "test.data", "needs": ["after"]},
        ]
    )
    run = await executor.run(book, {})
    steps = by_id(run)
    assert steps["broken"].status is Status.ERROR
    assert steps["after"].status is Status.SKIPPED
    assert steps["after"].summary == "skipped: needs `broken`, which failed"
    assert steps["after_after"].summary == "skipped: needs `after`, which was skipped"


async def test_a_slow_step_times_out_alone(executor: Executor) -> None:
    book = playbook(
        [
            {"id": "slow", "uses": "test.sleep", "timeout": "1s", "with": {"seconds": 5}},
            {"id": "quick", "uses": "test.sleep", "with": {"seconds": 0.01}},
            {"id": "after", "uses": "test.data", "needs": ["slow"]},
        ]
    )
    began = time.perf_counter()
    run = await executor.run(book, {})
    assert time.perf_counter() - began < 4, "the run waited for the 5 s step"
    steps = by_id(run)
    assert steps["slow"].status is Status.TIMEOUT
    assert steps["slow"].summary == "timed out after 1s"
    assert 0.9 < steps["slow"].duration_s < 4
    assert steps["quick"].status is Status.OK
    assert steps["after"].status is Status.SKIPPED


async def test_playbook_deadline_times_out_what_is_left(executor: Executor) -> None:
    book = playbook(
        [
            {"id": "quick", "uses": "test.sleep", "with": {"seconds": 0.01}},
            {"id": "slow", "uses": "test.sleep", "timeout": "30s", "with": {"seconds": 10}},
            {"id": "waiting", "uses": "test.data", "needs": ["slow"]},
        ],
        timeout=0.3,
    )
    began = time.perf_counter()
    run = await executor.run(book, {})
    assert time.perf_counter() - began < 1.0
    steps = by_id(run)
    assert steps["quick"].status is Status.OK
    assert steps["slow"].status is Status.TIMEOUT
    assert steps["slow"].summary == "the playbook's 0.3s deadline passed"
    assert steps["slow"].duration_s > 0.2
    assert steps["waiting"].status is Status.TIMEOUT
    assert run.finished


async def test_a_generous_deadline_changes_nothing(executor: Executor) -> None:
    book = playbook([{"id": "s", "uses": "test.sleep", "with": {"seconds": 0.01}}], timeout="2m")
    began = time.perf_counter()
    run = await executor.run(book, {})
    assert time.perf_counter() - began < 0.5
    assert run.steps[0].status is Status.OK


async def test_failures_are_isolated(executor: Executor, caplog: pytest.LogCaptureFixture) -> None:
    book = playbook(
        [
            {"id": "denied", "uses": "test.fail", "with": {"message": "Access denied: nope"}},
            {"id": "buggy", "uses": "test.crash"},
            {"id": "fine", "uses": "test.data", "with": {"count": 0, "name": "ok"}},
        ]
    )
    with caplog.at_level(logging.INFO, logger="bot.executor"):
        run = await executor.run(book, {}, run_id="run123")
    steps = by_id(run)
    assert steps["denied"].status is Status.ERROR
    assert steps["denied"].summary == "Access denied: nope"
    assert steps["buggy"].status is Status.ERROR
    assert steps["buggy"].summary == "internal error in step (run id run123)"
    assert "boom" not in steps["buggy"].summary
    assert steps["fine"].status is Status.OK
    crash = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(crash) == 1
    assert crash[0].exc_info is not None and "boom" in str(crash[0].exc_info[1])
    assert (crash[0].run_id, crash[0].playbook, crash[0].step) == ("run123", "test-book", "buggy")  # type: ignore[attr-defined]
    lines = {r.step: r for r in caplog.records if r.levelno == logging.INFO}  # type: ignore[attr-defined]
    assert set(lines) == {"denied", "buggy", "fine"}
    assert lines["fine"].status == "ok"  # type: ignore[attr-defined]
    assert lines["fine"].run_id == "run123"  # type: ignore[attr-defined]
    assert isinstance(lines["fine"].duration_s, float)  # type: ignore[attr-defined]


async def test_with_is_rendered_from_params_and_earlier_steps(executor: Executor) -> None:
    book = playbook(
        [
            {"id": "targets", "uses": "test.data", "with": {"count": "{{ params.n }}"}},
            {
                "id": "report",
                "uses": "test.data",
                "needs": ["targets"],
                "region": "us-west-2",
                "with": {
                    "count": "{{ steps.targets.unhealthy * 2 }}",
                    "name": "{{ params.lb }} ({{ steps.targets.status }})",
                },
            },
        ]
    )
    run = await executor.run(book, {"n": 3, "lb": "app/web/123"})
    steps = by_id(run)
    assert steps["targets"].data["unhealthy"] == 3
    assert steps["targets"].data["region"] == "eu-west-1"  # the configured default
    assert steps["report"].data["unhealthy"] == 6
    assert steps["report"].summary == "app/web/123 (warn): 6 unhealthy"
    assert steps["report"].data["region"] == "us-west-2"
    assert run.params == {"n": "3", "lb": "app/web/123"}


async def test_alarm_region_and_context(executor: Executor) -> None:
    alarm = Alarm(
        source=AlarmSource.ALARM,
        name="prod-api-5xx",
        region="ap-southeast-2",
        dimensions={"LoadBalancer": "app/api/abc"},
    )
    book = playbook(
        [{"id": "lb", "uses": "test.data", "with": {"name": "{{ alarm.dimensions.LoadBalancer }}"}}]
    )
    run = await executor.run(book, {}, alarm=alarm, requested_by="alarm")
    assert run.steps[0].data == {"unhealthy": 0, "name": "app/api/abc", "region": "ap-southeast-2"}
    assert run.requested_by == "alarm"


async def test_invalid_rendered_param_names_the_field(executor: Executor) -> None:
    book = playbook(
        [
            {"id": "bad", "uses": "test.data", "with": {"count": "{{ params.lb }}"}},
            {"id": "typo", "uses": "test.data", "with": {"cuont": 1}},
        ]
    )
    run = await executor.run(book, {"lb": "app/web/123"})
    bad, typo = run.steps
    assert bad.status is Status.ERROR
    assert bad.summary.startswith("invalid `with` for `test.data`: `count`:")
    assert "valid integer" in bad.summary and "app/web/123" in bad.summary
    assert typo.status is Status.ERROR
    assert "`cuont` is not a parameter of this step" in typo.summary
    assert "`count`" in typo.summary


async def test_undefined_name_in_template_is_a_step_error(executor: Executor) -> None:
    book = playbook([{"id": "s", "uses": "test.data", "with": {"name": "{{ params.nope }}"}}])
    run = await executor.run(book, {})
    assert run.steps[0].status is Status.ERROR
    assert run.steps[0].summary.startswith("template refers to something undefined")


async def test_sandbox_escape_is_refused_and_never_run(executor: Executor) -> None:
    ran: list[str] = []

    @step("test.spy", params=DataParams, permissions=())
    async def spy(ctx: StepContext, params: DataParams) -> StepOutput:
        """Records that it ran."""
        ran.append(params.name)
        return StepOutput(summary="ran")

    registry = Registry([spy])
    book = playbook(
        [{"id": "evil", "uses": "test.spy", "with": {"name": "{{ ''.__class__.__mro__ }}"}}]
    )
    run = await Executor(registry, AwsClients(AwsSettings())).run(book, {})
    assert run.steps[0].status is Status.ERROR
    assert "refused by the sandbox" in run.steps[0].summary
    assert ran == []


async def test_unknown_step_type_is_an_error_for_that_step(executor: Executor) -> None:
    book = playbook(
        [
            {"id": "a", "uses": "test.sleeep"},
            {"id": "b", "uses": "test.sleep"},
        ]
    )
    run = await executor.run(book, {})
    assert run.steps[0].status is Status.ERROR
    assert "Did you mean `test.sleep`?" in run.steps[0].summary
    assert run.steps[1].status is Status.OK


async def test_needs_cycle_and_unknown_need(executor: Executor) -> None:
    book = playbook(
        [
            {"id": "a", "uses": "test.data", "needs": ["b"]},
            {"id": "b", "uses": "test.data", "needs": ["a"]},
            {"id": "c", "uses": "test.data", "needs": ["a"]},
            {"id": "d", "uses": "test.data", "needs": ["ghost"]},
        ],
        timeout=5,
    )
    began = time.perf_counter()
    run = await executor.run(book, {})
    assert time.perf_counter() - began < 1  # no waiting for the deadline
    steps = by_id(run)
    assert steps["a"].status is Status.ERROR and "cycle" in steps["a"].summary
    assert steps["b"].status is Status.ERROR
    assert steps["c"].status is Status.SKIPPED
    assert steps["d"].summary == "needs `ghost`, which is not a step in this playbook"


async def test_on_update_sees_running_then_finished(executor: Executor) -> None:
    seen: list[tuple[Status, ...]] = []

    async def on_update(update: RunResult) -> None:
        assert not update.finished
        seen.append(tuple(s.status for s in update.steps))

    book = playbook(
        [
            {"id": "a", "uses": "test.sleep", "with": {"seconds": 0.1}},
            {"id": "b", "uses": "test.sleep", "needs": ["a"], "with": {"seconds": 0.1}},
        ]
    )
    run = await executor.run(book, {}, on_update=on_update)
    assert (Status.RUNNING, Status.PENDING) in seen
    assert (Status.OK, Status.RUNNING) in seen
    assert seen[-1] == (Status.OK, Status.OK)
    assert seen.index((Status.RUNNING, Status.PENDING)) < seen.index((Status.OK, Status.RUNNING))
    assert run.finished_at is not None


async def test_on_update_that_raises_does_not_break_the_run(
    executor: Executor, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def broken(update: RunResult) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("slack is down")

    book = playbook(
        [
            {"id": "a", "uses": "test.sleep", "with": {"seconds": 0.05}},
            {"id": "b", "uses": "test.data", "needs": ["a"]},
        ]
    )
    run = await executor.run(book, {}, on_update=broken)
    assert [s.status for s in run.steps] == [Status.OK, Status.OK]
    assert calls >= 2
    assert any("on_update failed" in r.getMessage() for r in caplog.records)


async def test_slow_on_update_does_not_hold_up_steps(executor: Executor) -> None:
    snapshots: list[RunResult] = []

    async def slow(update: RunResult) -> None:
        await asyncio.sleep(0.2)
        snapshots.append(update)

    book = playbook(
        [{"id": f"s{i}", "uses": "test.sleep", "with": {"seconds": 0.05}} for i in range(5)]
    )
    began = time.perf_counter()
    run = await executor.run(book, {}, on_update=slow)
    assert all(s.status is Status.OK for s in run.steps)
    assert max(s.duration_s for s in run.steps) < 0.15
    assert time.perf_counter() - began < 1.0  # updates were coalesced, not queued 10 deep
    assert all(s.status is Status.OK for s in snapshots[-1].steps)  # the last state went out


async def test_run_id_and_times(registry: Registry, aws_clients: AwsClients) -> None:
    ticks = iter(
        [datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC), datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)]
    )
    executor = Executor(registry, aws_clients, clock=lambda: next(ticks))
    book = playbook([{"id": "a", "uses": "test.data"}], title="A test")
    run = await executor.run(book, {}, requested_by="U123")
    assert len(run.run_id) == 12
    assert run.title == "A test" and run.playbook == "test-book"
    assert run.duration_s == 7.0
    assert run.requested_by == "U123"
    other = await Executor(registry, aws_clients).run(book, {})
    assert other.run_id != run.run_id


async def test_a_real_aws_call_through_moto(session: boto3.Session) -> None:
    clients = AwsClients(AwsSettings(), session_factory=lambda: session)
    # Time is not what this test is about: room for a first client build on a loaded machine.
    book = playbook([{"id": "whoami", "uses": "sts.caller_identity", "timeout": "60s"}])
    try:
        run = await Executor(default_registry(), clients).run(book, {})
    finally:
        clients.close()
    whoami = run.steps[0]
    assert whoami.status is Status.OK
    assert whoami.data["account"] == "123456789012"
    assert "Acting as `arn:aws:" in whoami.summary
    assert whoami.attempts == 1 and whoami.retries == 0
