"""A run message says each finding once, with ARNs shortened; the text output keeps it all."""

from __future__ import annotations

from bot.render.blocks import needs_file, run_blocks
from bot.render.text import render_text
from bot.results import Finding, Severity, Status, StepResult, Table
from tests.render.runs import make_run

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prod-web-tg/f007c90d6013bd80"


def _changes(rows: int) -> StepResult:
    return StepResult(
        "changes",
        "cloudtrail.recent_changes",
        Status.WARN,
        f"1 write call touches {TG}.",
        findings=(Finding(f"deploy called ModifyTargetGroup on {TG}", Severity.WARNING),),
        tables=(
            Table(
                columns=("What", "Resources"),
                rows=tuple(("ModifyTargetGroup", TG) for _ in range(rows)),
                title="Recent changes",
            ),
        ),
    )


def _section(step: StepResult) -> str:
    blocks = run_blocks(make_run([step]))
    [text] = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    return str(text)


def test_a_table_that_repeats_the_findings_is_left_to_the_text_output() -> None:
    step = _changes(rows=1)
    text = _section(step)
    assert text.count("ModifyTargetGroup") == 1
    assert "Recent changes" not in text and "```" not in text
    assert "🟠 deploy called ModifyTargetGroup on targetgroup/prod-web-tg/…" in text
    assert "1 write call touches targetgroup/prod-web-tg/…." in text
    assert "arn:aws" not in text
    assert not needs_file(make_run([step]))
    full = render_text(make_run([step]))
    assert "Recent changes" in full and TG in full, "the CLI and the file keep whole ARNs"


def test_a_table_with_more_rows_than_findings_is_shown_with_short_arns() -> None:
    text = _section(_changes(rows=2))
    assert "*Recent changes*" in text
    assert "targetgroup/prod-web-tg/…" in text.split("```")[1]
    assert "arn:aws" not in text
