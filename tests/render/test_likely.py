"""The correlator's lines at the top of a run's message, in Block Kit and as text."""

from __future__ import annotations

import json

from bot.render.blocks import full_output, needs_file, run_blocks
from bot.render.limits import MAX_BLOCKS, MAX_SECTION_TEXT
from bot.render.text import render_json, render_text
from bot.results import Status, StepResult
from tests.render.runs import incident_run, make_run

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prod-web-tg/73e2d6bc24d8a067"
LIKELY = (
    "Likely: `deploy-pipeline/web-release-4711` changed target group `prod-web-tg` "
    "(ModifyTargetGroup) 18 min before the alarm; since then 2 of 3 targets fail health checks "
    "with 404 — from `changes`, `targets`.",
    f"Possible: an open AWS issue, <AWS_ELB_ISSUE>, for {TG} — from `health`.",
)


def test_the_suspects_are_the_first_section_with_their_lead_in_bold() -> None:
    blocks = run_blocks(incident_run(), likely=LIKELY)
    assert [b["type"] for b in blocks[:4]] == ["header", "context", "section", "section"]
    first, second = blocks[2]["text"]["text"].split("\n")
    assert first == (
        "🧭 *Likely:* `deploy-pipeline/web-release-4711` changed target group `prod-web-tg` "
        "(ModifyTargetGroup) 18 min before the alarm; since then 2 of 3 targets fail health "
        "checks with 404 — from `changes`, `targets`."
    )
    # Outside text is escaped and ARNs read from their resource end.
    assert second == (
        "🧭 *Possible:* an open AWS issue, &lt;AWS_ELB_ISSUE&gt;, for "
        "targetgroup/prod-web-tg/… — from `health`."
    )
    assert blocks[3]["text"]["text"].startswith("⚠️ *targets*")


def test_no_suspect_lines_no_section() -> None:
    assert run_blocks(incident_run()) == run_blocks(incident_run(), likely=())


def test_the_message_stays_within_slacks_limits_with_the_suspects() -> None:
    steps = [
        StepResult(step_id=f"s{i}", uses="cloudwatch.metric", status=Status.OK, summary="fine")
        for i in range(MAX_BLOCKS)
    ]
    run = make_run(steps)
    blocks = run_blocks(run, likely=LIKELY * 40)
    assert len(blocks) <= MAX_BLOCKS
    assert len(blocks[2]["text"]["text"]) <= MAX_SECTION_TEXT
    assert needs_file(run, likely=LIKELY)
    few = make_run(steps[: MAX_BLOCKS - 5])
    assert not needs_file(few, likely=LIKELY)


def test_text_and_json_carry_the_lines_whole() -> None:
    text = render_text(incident_run(), likely=LIKELY)
    _, _, rest = text.partition("\n\n")
    assert rest.startswith(LIKELY[0] + "\n" + LIKELY[1] + "\n\n")
    assert TG in text  # the CLI keeps ARNs whole, for copying
    assert full_output(incident_run(), likely=LIKELY) == text
    assert json.loads(render_json(incident_run(), likely=LIKELY))["likely"] == list(LIKELY)
    assert json.loads(render_json(incident_run()))["likely"] == []
