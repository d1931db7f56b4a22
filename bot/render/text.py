"""A run as plain text (the CLI, and the file attached when Slack's limits cut a message) and as
JSON (``triagebot run --format json``). Deterministic: the same run always renders the same."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from bot.render.limits import clip
from bot.results import RunResult, Series, Severity, Status, StepResult, Table

STATUS_WORDS: Mapping[Status, str] = {
    Status.PENDING: "· PENDING",
    Status.RUNNING: "» RUNNING",
    Status.OK: "✓ OK",
    Status.WARN: "! WARN",
    Status.ERROR: "✗ ERROR",
    Status.TIMEOUT: "⧗ TIMEOUT",
    Status.SKIPPED: "- SKIPPED",
}
SEVERITY_MARKS: Mapping[Severity, str] = {
    Severity.INFO: "[info]",
    Severity.WARNING: "[WARNING]",
    Severity.CRITICAL: "[CRITICAL]",
}
CELL_WIDTH = 60  # wider table cells are cut with "…"
INDENT = "    "


def render_text(run: RunResult, *, likely: Sequence[str] = ()) -> str:
    """The whole run, every step with its findings, tables and series, for a terminal; the
    correlator's suspect lines (``bot.correlate.likely_lines``) first."""
    lines = [run.title if run.title == run.playbook else f"{run.title} ({run.playbook})"]
    meta = [f"run {run.run_id}"]
    if run.requested_by:
        meta.append(f"requested by {run.requested_by}")
    meta.append(f"started {run.started_at:%Y-%m-%d %H:%M:%S %Z}".rstrip())
    lines.append(" · ".join(meta))
    if run.params:
        lines.append("params: " + ", ".join(f"{k}={v}" for k, v in run.params.items()))
    if run.error:
        lines.append(f"run failed: {run.error}")
    if likely:
        lines.append("")
        lines.extend(likely)
    width = max(len(STATUS_WORDS[s.status]) for s in run.steps) if run.steps else 0
    for result in run.steps:
        lines.append("")
        lines.extend(step_lines(result, status_width=width))
    lines.append("")
    lines.append(footer(run))
    return "\n".join(lines) + "\n"


def step_lines(result: StepResult, *, status_width: int = 0) -> list[str]:
    """One step: a heading line, then everything it found, indented."""
    about = [result.step_id, result.uses]
    if result.status.finished and result.status is not Status.SKIPPED:
        about.append(format_seconds(result.duration_s))
    lines = [f"{STATUS_WORDS[result.status].ljust(status_width)}  {' · '.join(about)}"]
    lines.extend(INDENT + line for line in result.summary.splitlines())
    for finding in result.findings:
        text = finding.text.splitlines() or [""]
        lines.append(f"{INDENT}{SEVERITY_MARKS[finding.severity]} {text[0]}")
        lines.extend(f"{INDENT}  {more}" for more in text[1:])
    for table in result.tables:
        if table.title:
            lines.append(INDENT + table.title)
        rows, _ = table_lines(table, cell_width=CELL_WIDTH)
        lines.extend(INDENT + "  " + row for row in rows)
    lines.extend(INDENT + series_line(series) for series in result.series)
    if result.retries > 0:
        lines.append(INDENT + attempts_phrase(result))
    return lines


def table_lines(
    table: Table, *, cell_width: int, max_rows: int | None = None
) -> tuple[list[str], bool]:
    """A table as aligned columns (header, rule, rows); and whether anything was cut."""
    shown = table.rows if max_rows is None else table.rows[:max_rows]
    cut = len(shown) < len(table.rows)
    count = max([len(table.columns), *(len(row) for row in shown)])
    grid: list[list[str]] = []
    for raw in [table.columns, *shown]:
        cells = [str(cell) for cell in raw] + [""] * (count - len(raw))
        clipped = [clip(cell, cell_width) for cell in cells]
        cut = cut or any(a != b for a, b in zip(cells, clipped, strict=True))
        grid.append(clipped)
    widths = [max(len(row[i]) for row in grid) for i in range(count)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in grid
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(shown) < len(table.rows):
        more = len(table.rows) - len(shown)
        lines.append(f"… {more} more row" + ("" if more == 1 else "s"))
    return lines, cut


def series_line(series: Series) -> str:
    """``CPUUtilization: 12 points, min 1.2, max 97, latest 45 %``."""
    unit = f" {series.unit}" if series.unit and series.unit != "None" else ""
    if not series.values:
        return f"{series.label}: no data points"
    points = "1 point" if len(series.values) == 1 else f"{len(series.values)} points"
    latest = series.values[_latest_index(series)]
    text = (
        f"{series.label}: {points}, min {_number(min(series.values))}, "
        f"max {_number(max(series.values))}, latest {_number(latest)}{unit}"
    )
    if series.threshold is not None:
        text += f" (threshold {_number(series.threshold)})"
    return text


def attempts_phrase(result: StepResult) -> str:
    """``3 attempts (2 retries after throttling or server errors)``."""
    retries = "1 retry" if result.retries == 1 else f"{result.retries} retries"
    return f"{result.attempts} attempts ({retries} after throttling or server errors)"


def format_seconds(seconds: float) -> str:
    """``0.4s``, ``12.3s``, ``2m05s``, ``1h02m``."""
    if seconds < 59.95:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def status_counts(run: RunResult) -> dict[Status, int]:
    """How many steps ended in each status (every status present, zero or not)."""
    counts = dict.fromkeys(Status, 0)
    for result in run.steps:
        counts[result.status] += 1
    return counts


def footer(run: RunResult) -> str:
    """The last line: how long the run took and how its steps ended."""
    counts = status_counts(run)
    tally = (
        f"{counts[Status.OK]} ok, {counts[Status.WARN]} warn, "
        f"{counts[Status.ERROR]} error, {counts[Status.SKIPPED]} skipped"
    )
    if counts[Status.TIMEOUT]:
        tally += f", {counts[Status.TIMEOUT]} timed out"
    if not run.finished:
        done = sum(1 for s in run.steps if s.status.finished)
        return f"Running: {done} of {len(run.steps)} steps done ({tally})"
    return f"Finished in {format_seconds(run.duration_s)}: {tally}"


def render_json(run: RunResult, *, likely: Sequence[str] = ()) -> str:
    """The run as JSON: every field of RunResult and its steps, datetimes in ISO 8601, and the
    correlator's lines as ``likely``."""
    body = to_plain(run)
    assert isinstance(body, dict)
    body["status"] = str(run.status)
    body["duration_s"] = run.duration_s
    body["likely"] = list(likely)
    return json.dumps(body, indent=2, ensure_ascii=False)


def to_plain(value: Any) -> Any:
    """Dataclasses, mappings, sequences, enums and datetimes as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [to_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _number(value: float) -> str:
    return f"{value:.4g}"


def _latest_index(series: Series) -> int:
    if len(series.timestamps) != len(series.values) or not series.timestamps:
        return len(series.values) - 1
    return max(range(len(series.values)), key=lambda i: series.timestamps[i])
