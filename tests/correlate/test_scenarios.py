"""The correlator on recorded incidents: each scenario's lines, compared exactly."""

from __future__ import annotations

import pytest

from bot.correlate import MAX_LINES, correlate, likely_lines
from tests.correlate.scenarios import Scenario, all_scenarios

SCENARIOS = all_scenarios()


def test_the_held_scenarios_cover_the_issue() -> None:
    assert {s.name for s in SCENARIOS} >= {
        "bad-deploy",
        "security-group-cut-a-port",
        "aws-health-event-no-change",
        "ecs-oom-after-memory-cut",
        "lambda-throttled-after-concurrency-change",
        "load-spike-no-change",
    }


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_suspect_lines_are_the_expected_ones(scenario: Scenario) -> None:
    assert likely_lines(scenario.steps, scenario.alarm, now=scenario.now) == scenario.expected


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_line_names_steps_that_found_something(scenario: Scenario) -> None:
    lines = correlate(scenario.steps, scenario.alarm, now=scenario.now)
    assert 1 <= len(lines) <= MAX_LINES
    with_evidence = {s.step_id for s in scenario.steps if s.evidence}
    for line in lines:
        assert line.rests_on and set(line.rests_on) <= with_evidence
        assert line.text.endswith(" — from " + ", ".join(f"`{s}`" for s in line.rests_on) + ".")
