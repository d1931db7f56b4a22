"""Block Kit rendering: what Slack receives, within Slack's limits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.render.blocks import full_output, needs_file, run_blocks, run_fallback_text
from bot.render.text import render_text
from bot.results import Finding, Severity, Status, StepResult, Table
from tests.render.runs import incident_run, make_run


def sections(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def texts(block: dict[str, Any]) -> list[str]:
    return [e["text"] for e in block["elements"]]


def test_finished_run_layout() -> None:
    blocks = run_blocks(incident_run())
    assert [b["type"] for b in blocks] == [
        "header",
        "context",
        "section",
        "section",
        "section",
        "section",
        "context",
        "actions",
    ]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "ALB 5xx errors", "emoji": True}
    assert texts(blocks[1]) == [
        "load_balancer=`app/web/50dc6c495c0c9188` · lookback=`1h`",
        "asked by <@U012ABCDEF>",
        "run `3f2a1b9c0d1e`",
    ]
    targets, metric, changes, logs = sections(blocks)
    assert targets.startswith("⚠️ *targets*  `elbv2.target_health` · 0.4s\n")
    assert "1 of 3 targets unhealthy in `web-tg`." in targets
    assert "🔴 i-0abc failed health checks: Target.Timeout" in targets
    assert "```target  port  state      reason\n" in targets
    assert "_3 attempts (2 retries after throttling or server errors)_" in targets
    assert "📈 HTTPCode_Target_5XX_Count: 3 points" in metric
    assert changes.startswith("❌ *changes*")
    assert logs == "⏭️ *logs*  `logs.insights`\nskipped: needs `changes`, which failed"
    assert texts(blocks[-2]) == ["Finished in 12.3s · 1 warning, 1 error · 1 skipped"]


def test_buttons_only_when_finished() -> None:
    finished = run_blocks(incident_run())
    actions = finished[-1]
    assert actions["type"] == "actions"
    assert [(e["text"]["text"], e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("Re-run", "triage_rerun", "3f2a1b9c0d1e"),
        ("Details", "triage_details", "3f2a1b9c0d1e"),
    ]
    running = replace(incident_run(), finished_at=None)
    assert all(b["type"] != "actions" for b in run_blocks(running))
    assert all(b["type"] != "actions" for b in run_blocks(incident_run(), buttons=False))


def test_progress_emojis() -> None:
    steps = [
        StepResult("a", "x.a", Status.PENDING),
        StepResult("b", "x.b", Status.RUNNING),
        StepResult("c", "x.c", Status.TIMEOUT, "timed out after 10s", duration_s=10.0),
    ]
    blocks = run_blocks(make_run(steps, finished=False))
    assert [s.split(" ", 1)[0] for s in sections(blocks)] == ["⏳", "🔄", "⏱️"]
    assert blocks[-1]["type"] == "section"  # no footer or buttons while running


def test_eighty_steps_fit_in_fifty_blocks() -> None:
    steps = [StepResult(f"step_{i}", "x.y", Status.OK, f"step {i} ok") for i in range(80)]
    run = make_run(steps)
    blocks = run_blocks(run)
    assert len(blocks) <= 50
    assert blocks[-1]["type"] == "actions"
    notes = [t for b in blocks if b["type"] == "context" for t in texts(b)]
    shown = len(sections(blocks))
    assert f"… {80 - shown} more sections — full output in the attached file" in notes
    assert needs_file(run)
    assert "step_79" in full_output(run)


def test_a_huge_summary_is_cut_with_a_hint() -> None:
    summary = "\n".join(f"{i:05d} " + "z" * 94 for i in range(100))  # 10,000 chars
    assert len(summary) >= 9_999
    run = make_run([StepResult("big", "x.y", Status.WARN, summary)])
    (text,) = sections(run_blocks(run))
    assert len(text) <= 3000
    assert text.splitlines()[-1].startswith("… ")
    assert "more lines — full output in the attached file" in text
    assert needs_file(run)
    full = full_output(run).splitlines()
    assert all(f"    {line}" in full for line in summary.splitlines())


def test_a_huge_one_line_summary_is_cut_too() -> None:
    run = make_run([StepResult("big", "x.y", Status.OK, "q" * 10_000)])
    (text,) = sections(run_blocks(run))
    assert len(text) <= 3000
    assert "more chars — full output in the attached file" in text


def test_everything_large_still_fits_a_section() -> None:
    step = StepResult(
        "big",
        "x.y",
        Status.WARN,
        "s" * 5000,
        findings=tuple(Finding("f" * 900, Severity.WARNING) for _ in range(20)),
        tables=(Table(columns=("a", "b"), rows=tuple(("v" * 90, "w" * 90) for _ in range(50))),)
        * 3,
    )
    run = make_run([step])
    (text,) = sections(run_blocks(run))
    assert len(text) <= 3000
    assert "… 15 more findings" in text
    assert "… 2 more tables" in text
    assert needs_file(run)


def test_nothing_cut_means_no_file() -> None:
    assert not needs_file(incident_run())


def test_a_clipped_cell_or_long_table_means_a_file() -> None:
    wide = Table(columns=("message",), rows=(("m" * 40,),))
    run = make_run([StepResult("q", "logs.insights", Status.OK, "1 row", tables=(wide,))])
    (text,) = sections(run_blocks(run))
    assert "m" * 31 + "…" in text
    assert needs_file(run)
    long = Table(columns=("n",), rows=tuple((str(i),) for i in range(20)))
    run = make_run([StepResult("q", "logs.insights", Status.OK, "20 rows", tables=(long,))])
    (text,) = sections(run_blocks(run))
    assert "… 12 more rows" in text and "\n7\n" in text and "\n8\n" not in text
    assert needs_file(run)


def test_long_title_header_is_clipped() -> None:
    run = make_run([StepResult("a", "x.y", Status.OK, "ok")], title="T" * 400)
    header = run_blocks(run)[0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…")


def test_slack_control_characters_are_escaped() -> None:
    run = make_run([StepResult("a", "x.y", Status.WARN, "p99 > 2s & errors <5%")])
    (text,) = sections(run_blocks(run))
    assert "p99 &gt; 2s &amp; errors &lt;5%" in text


def test_requested_by_words() -> None:
    run = make_run([StepResult("a", "x.y", Status.OK, "ok")], requested_by="alarm")
    assert "started by an alarm" in texts(run_blocks(run)[1])
    assert "asked by <@U999>" in texts(run_blocks(run, requested_by="U999")[1])


def test_fallback_text() -> None:
    assert run_fallback_text(incident_run()) == "alb-errors: 1 warning, 1 error (12.3s)"
    ok = make_run([StepResult("a", "x.y", Status.OK, "fine")])
    assert run_fallback_text(ok) == "alb-errors: no problems found (12.3s)"
    running = replace(incident_run(), finished_at=None)
    assert run_fallback_text(running) == "alb-errors: running (4 of 4 steps done)"
    failed = replace(incident_run(), error="the playbook could not load")
    assert run_fallback_text(failed) == "alb-errors: failed: the playbook could not load"


def test_full_output_is_the_text_render() -> None:
    assert full_output(incident_run()) == render_text(incident_run())
