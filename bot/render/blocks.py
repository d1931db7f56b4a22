"""A run as Slack Block Kit: pure functions from RunResult to dicts. Every limit comes from
``bot.render.limits``; when something has to be cut, ``needs_file`` says so and ``full_output``
is the text to attach."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.render.arns import shorten_arns
from bot.render.limits import (
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_HEADER_TEXT,
    MAX_MRKDWN,
    MAX_SECTION_TEXT,
    clip,
    context_block,
    fit_blocks,
    truncate,
)
from bot.render.links import LinkButton, link_elements
from bot.render.mrkdwn import escape, is_user_id, mention
from bot.render.text import (
    attempts_phrase,
    format_seconds,
    render_text,
    series_line,
    status_counts,
    table_lines,
)
from bot.results import RunResult, Severity, Status, StepResult, Table

RERUN_ACTION = "triage_rerun"
DETAILS_ACTION = "triage_details"

STATUS_EMOJI: Mapping[Status, str] = {
    Status.PENDING: "⏳",
    Status.RUNNING: "🔄",
    Status.OK: "✅",
    Status.WARN: "⚠️",
    Status.ERROR: "❌",
    Status.TIMEOUT: "⏱️",
    Status.SKIPPED: "⏭️",
}
SEVERITY_EMOJI: Mapping[Severity, str] = {
    Severity.CRITICAL: "🔴",
    Severity.WARNING: "🟠",
    Severity.INFO: "🔹",
}
_SEVERITY_ORDER = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)

MORE_HINT = "— full output in the attached file"
TOP_FINDINGS = 5
FINDING_CHARS = 250
TABLE_ROWS = 8
TABLE_CELL = 32
TABLE_CHARS = 900
SHOWN_SERIES = 3

# How the correlator's lines begin; that word is shown in bold.
_LEADS = frozenset({"Likely", "Also possible", "Possible"})
# Blocks around the step sections: header, context, footer context, actions.
_FRAME_BLOCKS = 4


@dataclass(frozen=True)
class _Section:
    text: str
    cut: bool  # something of the step did not fit


def run_blocks(
    run: RunResult,
    *,
    requested_by: str = "",
    buttons: bool = True,
    likely: Sequence[str] = (),
    links: Sequence[LinkButton] = (),
) -> list[dict[str, Any]]:
    """The message for a run, in progress or finished; buttons only once it has finished, the
    run's own and then ``links`` (an alarm's runbook and dashboard, ``bot.render.links``).
    ``likely`` (``bot.correlate.likely_lines``) is the first section, above the steps."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(run.title, MAX_HEADER_TEXT), "emoji": True},
        },
        context_block(_about(run, requested_by or run.requested_by)),
    ]
    if likely:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": likely_text(likely)}})
    sections = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _section(step).text}}
        for step in run.steps
    ]
    blocks.extend(fit_blocks(sections, limit=MAX_BLOCKS - _FRAME_BLOCKS - bool(likely)))
    if run.finished:
        blocks.append(context_block([_footer(run)]))
        if buttons:
            blocks.append(
                {
                    "type": "actions",
                    "block_id": "triage_run_actions",
                    "elements": [
                        _button("Re-run", RERUN_ACTION, run.run_id),
                        _button("Details", DETAILS_ACTION, run.run_id),
                        *link_elements(links),
                    ],
                }
            )
    return blocks


def run_fallback_text(run: RunResult) -> str:
    """The notification text: ``alb-errors: 2 warnings, 1 error (12.3s)``."""
    if run.error:
        text = f"{escape(run.playbook)}: failed: {escape(run.error)}"
    elif not run.finished:
        done = sum(1 for s in run.steps if s.status.finished)
        text = f"{run.playbook}: running ({done} of {len(run.steps)} steps done)"
    else:
        text = f"{run.playbook}: {outcome(run)} ({format_seconds(run.duration_s)})"
    return truncate(text, MAX_MRKDWN)


def outcome(run: RunResult) -> str:
    """``2 warnings, 1 error`` — or ``no problems found``."""
    counts = status_counts(run)
    parts = []
    for status, one, many in (
        (Status.WARN, "warning", "warnings"),
        (Status.ERROR, "error", "errors"),
        (Status.TIMEOUT, "timeout", "timeouts"),
    ):
        if counts[status]:
            parts.append(f"{counts[status]} {one if counts[status] == 1 else many}")
    return ", ".join(parts) or "no problems found"


def full_output(run: RunResult, *, likely: Sequence[str] = ()) -> str:
    """The complete run as text, for the file attached when the message had to be cut."""
    return render_text(run, likely=likely)


def needs_file(run: RunResult, *, likely: Sequence[str] = ()) -> bool:
    """Whether ``run_blocks`` had to leave anything out (so ``full_output`` should be attached)."""
    if len(run.steps) > MAX_BLOCKS - _FRAME_BLOCKS - bool(likely):
        return True
    return any(_section(step).cut for step in run.steps)


def likely_text(likely: Sequence[str]) -> str:
    """The suspect lines as one mrkdwn section: each line's lead word (``Likely:``) in bold,
    ARNs shortened, outside text escaped; within Slack's section limit."""
    lines = []
    for line in likely:
        text = escape(shorten_arns(" ".join(line.split())))
        lead, sep, rest = text.partition(": ")
        if sep and lead in _LEADS:
            text = f"*{lead}:* {rest}"
        lines.append(f"🧭 {text}")
    return truncate("\n".join(lines), MAX_SECTION_TEXT)


def _section(step: StepResult) -> _Section:
    """A step's section text within MAX_SECTION_TEXT, and whether anything was cut."""
    head = f"{STATUS_EMOJI[step.status]} *{escape(step.step_id)}*  `{escape(step.uses)}`"
    if step.status.finished and step.status is not Status.SKIPPED:
        head += f" · {format_seconds(step.duration_s)}"
    rest, cut = _details(step)
    summary = escape(shorten_arns(step.summary.strip()))
    budget = max(MAX_SECTION_TEXT - len(head) - len(rest) - 2, 300)
    short = truncate(summary, budget, MORE_HINT)
    cut = cut or short != summary
    text = "\n".join(part for part in (head, short, rest) if part)
    final = truncate(text, MAX_SECTION_TEXT, MORE_HINT)
    return _Section(text=final, cut=cut or final != text)


def _details(step: StepResult) -> tuple[str, bool]:
    """Top findings, the first table as a code block, series, retries; and whether cut."""
    lines: list[str] = []
    cut = False
    findings = sorted(step.findings, key=lambda f: _SEVERITY_ORDER.index(f.severity))
    for finding in findings[:TOP_FINDINGS]:
        full = shorten_arns(" ".join(finding.text.split()))
        text = clip(full, FINDING_CHARS)
        cut = cut or text != full
        lines.append(f"{SEVERITY_EMOJI[finding.severity]} {escape(text)}")
    if len(findings) > TOP_FINDINGS:
        cut = True
        lines.append(f"… {len(findings) - TOP_FINDINGS} more findings")
    if step.tables:
        table = _short_cells(step.tables[0])
        if not _repeats_findings(table, step):
            if table.title:
                lines.append(f"*{escape(clip(table.title, 150))}*")
            rows, table_cut = table_lines(table, cell_width=TABLE_CELL, max_rows=TABLE_ROWS)
            body = truncate(escape("\n".join(rows)), TABLE_CHARS)
            cut = cut or table_cut or body != escape("\n".join(rows))
            lines.append(f"```{body}```")
        if len(step.tables) > 1:
            cut = True
            more = len(step.tables) - 1
            lines.append(f"… {more} more table" + ("" if more == 1 else "s"))
    for series in step.series[:SHOWN_SERIES]:
        lines.append(f"📈 {escape(clip(series_line(series), 200))}")
    if len(step.series) > SHOWN_SERIES:
        cut = True
        lines.append(f"… {len(step.series) - SHOWN_SERIES} more series")
    if step.retries > 0:
        lines.append(f"_{attempts_phrase(step)}_")
    return "\n".join(lines), cut


def _repeats_findings(table: Table, step: StepResult) -> bool:
    """Whether the findings already say what the table holds. Steps write one finding per
    notable row, so a table with no more rows than findings would show each of them twice;
    the message then keeps the findings, and the table stays in the full text output."""
    return bool(step.findings) and len(table.rows) <= len(step.findings)


def _short_cells(table: Table) -> Table:
    """The table with every ARN in its cells shortened (``bot.render.arns``)."""
    rows = tuple(tuple(shorten_arns(str(cell)) for cell in row) for row in table.rows)
    return Table(columns=table.columns, rows=rows, title=table.title)


def _about(run: RunResult, requested_by: str) -> list[str]:
    """The context line under the header: parameters, who asked, the run id."""
    texts = []
    if run.params:
        texts.append(" · ".join(f"{escape(k)}=`{escape(v)}`" for k, v in run.params.items()))
    if requested_by:
        texts.append(_who(requested_by))
    texts.append(f"run `{escape(run.run_id)}`")
    return texts


def _who(requested_by: str) -> str:
    if is_user_id(requested_by):
        return f"asked by {mention(requested_by)}"
    if requested_by == "alarm":
        return "started by an alarm"
    if requested_by == "cli":
        return "started from the CLI"
    return f"asked by {escape(requested_by)}"


def _footer(run: RunResult) -> str:
    text = f"Finished in {format_seconds(run.duration_s)} · {outcome(run)}"
    skipped = status_counts(run)[Status.SKIPPED]
    if skipped:
        text += f" · {skipped} skipped"
    if run.error:
        text += f" · run failed: {escape(run.error)}"
    return text


def _button(text: str, action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, MAX_BUTTON_TEXT)},
        "action_id": action_id,
        "value": value[:MAX_BUTTON_VALUE],
    }
