"""Plain-text and JSON rendering for the CLI and the attached file."""

from __future__ import annotations

import json
from dataclasses import replace

from bot.render.text import format_seconds, render_json, render_text
from bot.results import Status, StepResult, Table
from tests.render.runs import incident_run, make_run


def test_text_shows_every_step_with_its_findings() -> None:
    text = render_text(incident_run())
    lines = text.splitlines()
    assert lines[0] == "ALB 5xx errors (alb-errors)"
    assert (
        lines[1] == "run 3f2a1b9c0d1e · requested by U012ABCDEF · started 2024-05-01 12:00:00 UTC"
    )
    assert lines[2] == "params: load_balancer=app/web/50dc6c495c0c9188, lookback=1h"
    assert "! WARN     targets · elbv2.target_health · 0.4s" in lines
    assert "    1 of 3 targets unhealthy in `web-tg`." in lines
    assert "    [CRITICAL] i-0abc failed health checks: Target.Timeout" in lines
    assert "    [info] i-0def is draining" in lines
    assert "    3 attempts (2 retries after throttling or server errors)" in lines
    assert "✗ ERROR    changes · cloudtrail.recent_changes · 0.1s" in lines
    assert "- SKIPPED  logs · logs.insights" in lines
    assert "    skipped: needs `changes`, which failed" in lines
    assert lines[-1] == "Finished in 12.3s: 1 ok, 1 warn, 1 error, 1 skipped"


def test_tables_are_aligned_columns() -> None:
    text = render_text(incident_run())
    assert (
        "      target  port  state      reason\n"
        "      ------  ----  ---------  -------------------------------\n"
        "      i-0abc  80    unhealthy  Target.Timeout\n"
        "      i-0def  80    draining   Target.DeregistrationInProgress\n"
        "      i-0123  80    healthy\n"
    ) in text


def test_wide_cells_are_cut() -> None:
    step = StepResult(
        "q",
        "logs.insights",
        Status.OK,
        "2 rows",
        tables=(Table(columns=("@message",), rows=(("E" * 500,), ("short",))),),
    )
    text = render_text(make_run([step]))
    row = next(line for line in text.splitlines() if line.strip().startswith("EEE"))
    assert row.strip() == "E" * 59 + "…"


def test_series_are_summarised() -> None:
    text = render_text(incident_run())
    assert (
        "    HTTPCode_Target_5XX_Count: 3 points, min 3, max 120, latest 40 Count"
        in text.splitlines()
    )


def test_no_attempt_line_without_retries() -> None:
    text = render_text(incident_run())
    assert "1 attempts" not in text and text.count("attempts") == 1


def test_running_run_says_how_far_it_got() -> None:
    run = incident_run()
    steps = (run.steps[0], replace(run.steps[1], status=Status.RUNNING))
    text = render_text(replace(run, steps=steps, finished_at=None))
    assert text.splitlines()[-1] == "Running: 1 of 2 steps done (0 ok, 1 warn, 0 error, 0 skipped)"
    assert "» RUNNING  errors_5xx · cloudwatch.metric" in text.splitlines()


def test_timeouts_are_counted() -> None:
    step = StepResult("slow", "x.y", Status.TIMEOUT, "timed out after 10s", duration_s=10)
    text = render_text(make_run([step]))
    assert (
        text.splitlines()[-1] == "Finished in 12.3s: 0 ok, 0 warn, 0 error, 0 skipped, 1 timed out"
    )


def test_text_is_deterministic() -> None:
    assert render_text(incident_run()) == render_text(incident_run())


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0.04, 12.34, 59.99, 125, 3725)] == [
        "0.0s",
        "12.3s",
        "1m00s",
        "2m05s",
        "1h02m",
    ]


def test_json_parses_and_keeps_everything() -> None:
    run = incident_run()
    body = json.loads(render_json(run))
    assert body["run_id"] == "3f2a1b9c0d1e"
    assert body["status"] == "warn"
    assert body["duration_s"] == 12.3
    assert body["started_at"] == "2024-05-01T12:00:00+00:00"
    targets = body["steps"][0]
    assert targets["status"] == "warn"
    assert targets["findings"][0] == {
        "text": "i-0abc failed health checks: Target.Timeout",
        "severity": "critical",
    }
    assert targets["tables"][0]["rows"][0] == ["i-0abc", "80", "unhealthy", "Target.Timeout"]
    series = body["steps"][1]["series"][0]
    assert series["timestamps"][1] == "2024-05-01T12:01:00+00:00"
    assert series["values"] == [3.0, 120.0, 40.0]
