"""CloudWatch Logs: what the application wrote (Logs Insights queries and plain filters)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.errors import StepError
from bot.results import Finding, Severity, Status, StepOutput, Symptom, Table
from bot.steps.base import StepContext, StepParams, step

_CELL_CHARS = 300
_DONE = frozenset({"Complete", "Failed", "Cancelled", "Timeout", "Unknown"})
_FIRST_POLL_S = 0.1
_MAX_POLL_S = 1.0


def _seconds(value: timedelta) -> str:
    """Like format_duration, but keeps sub-second waits readable (``0.5s``)."""
    seconds = value.total_seconds()
    return format_duration(value) if seconds >= 60 else f"{seconds:g}s"


def _cell(text: str) -> str:
    """A value fit for one table cell: trailing newline gone, long values cut."""
    text = text.rstrip()
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"


# --- logs.insights -----------------------------------------------------------------------------


class InsightsParams(StepParams):
    """A Logs Insights query over one or more log groups."""

    log_group: str | None = Field(default=None, description="The log group to query.")
    log_groups: tuple[str, ...] = Field(
        default=(), description="Several log groups to query together (up to 50)."
    )
    query: str = Field(
        description="The Logs Insights query, e.g. `fields @timestamp, @message | "
        "filter @message like /ERROR/ | sort @timestamp desc | limit 20`."
    )
    lookback: Duration = Field(default=timedelta(hours=1), description="How far back to query.")
    max_wait: Duration = Field(
        default=timedelta(seconds=8),
        description="How long to wait for the query; then it is stopped and partial rows shown.",
    )
    limit: int = Field(default=100, ge=1, le=10000, description="At most this many rows.")


@step(
    "logs.insights",
    params=InsightsParams,
    permissions=("logs:StartQuery", "logs:GetQueryResults", "logs:StopQuery"),
)
async def insights(ctx: StepContext, params: InsightsParams) -> StepOutput:
    """Run a CloudWatch Logs Insights query and show its rows as a table.

    The query runs over the lookback and may take up to ``max_wait``; a query still
    running then is stopped (so it stops costing money) and its partial rows are shown.
    Keep ``max_wait`` below the step's ``timeout``.

    Example:
        - id: errors
          uses: logs.insights
          timeout: 15s
          with:
            log_group: /aws/app/api
            query: |
              fields @timestamp, @message
              | filter @message like /ERROR/
              | sort @timestamp desc
              | limit 20
    """
    groups = [*([params.log_group] if params.log_group else []), *params.log_groups]
    if not groups:
        raise StepError("logs.insights needs `log_group` (or `log_groups`).")
    started = await ctx.call(
        "logs",
        "start_query",
        logGroupNames=groups,
        startTime=int((ctx.now - params.lookback).timestamp()),
        endTime=int(ctx.now.timestamp()),
        queryString=params.query,
        limit=params.limit,
    )
    query_id = started["queryId"]
    answer, finished = await _wait(ctx, query_id, params.max_wait.total_seconds())
    status = str(answer.get("status", "Unknown"))
    if status in ("Failed", "Cancelled", "Timeout", "Unknown"):
        raise StepError(f"The Logs Insights query ended as {status} (query id {query_id}).")

    columns, rows = _rows(answer.get("results", []))
    where = ", ".join(f"`{g}`" for g in groups)
    window = f"the last {format_duration(params.lookback)}"
    stats = answer.get("statistics", {})
    matched = int(stats.get("recordsMatched", 0))
    scanned = int(stats.get("recordsScanned", 0))
    counts = f" ({matched:,} of {scanned:,} records matched)" if scanned else ""
    data: dict[str, Any] = {
        "count": len(rows),
        "complete": finished,
        "records_matched": matched,
        "rows": [dict(zip(columns, row, strict=True)) for row in rows],
    }
    table = (Table(columns=tuple(columns), rows=tuple(rows), title="Logs Insights"),)
    if not finished:
        return StepOutput(
            summary=f"The query over {where} did not finish within "
            f"{_seconds(params.max_wait)}; it was stopped. "
            f"{len(rows)} partial row(s) from {window}.",
            status=Status.WARN,
            findings=(
                Finding(
                    "Narrow the query (a shorter lookback, a filter before stats) or raise "
                    "`max_wait` and the step's `timeout`.",
                    Severity.WARNING,
                ),
            ),
            tables=table if rows else (),
            data=data,
        )
    if not rows:
        return StepOutput(
            summary=f"The query returned no rows from {where} in {window}{counts}.", data=data
        )
    noun = "row" if len(rows) == 1 else "rows"
    return StepOutput(
        summary=f"{len(rows)} {noun} from {where} in {window}{counts}.", tables=table, data=data
    )


async def _wait(ctx: StepContext, query_id: str, budget_s: float) -> tuple[dict[str, Any], bool]:
    """Poll until the query is done or the budget is spent (then stop it). Returns
    (last answer, finished)."""
    deadline = time.monotonic() + budget_s
    delay = _FIRST_POLL_S
    try:
        while True:
            answer = await ctx.call("logs", "get_query_results", queryId=query_id)
            if answer.get("status") in _DONE:
                return answer, True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await _stop(ctx, query_id)
                return answer, False
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_POLL_S)
    except asyncio.CancelledError:  # the executor's step timeout: don't leave it running
        await _stop(ctx, query_id)
        raise


async def _stop(ctx: StepContext, query_id: str) -> None:
    # Best effort: the query may have finished meanwhile, which StopQuery reports as an error.
    with contextlib.suppress(StepError):
        await ctx.call("logs", "stop_query", queryId=query_id)


def _rows(results: list[list[dict[str, str]]]) -> tuple[list[str], list[tuple[str, ...]]]:
    """Columns in first-seen order (without @ptr) and one tuple per result row."""
    columns: list[str] = []
    for result in results:
        for cell in result:
            name = cell.get("field", "")
            if name and name != "@ptr" and name not in columns:
                columns.append(name)
    rows = []
    for result in results:
        values = {cell.get("field", ""): cell.get("value", "") for cell in result}
        rows.append(tuple(_cell(values.get(c, "")) for c in columns))
    return columns, rows


# --- logs.filter -------------------------------------------------------------------------------


class FilterParams(StepParams):
    """Which log group, which pattern."""

    log_group: str = Field(description="The log group to search.")
    pattern: str = Field(
        default="",
        description="A CloudWatch Logs filter pattern, e.g. `ERROR` or `?ERROR ?Exception` "
        "(empty = every event).",
    )
    lookback: Duration = Field(default=timedelta(hours=1), description="How far back to look.")
    limit: int = Field(default=20, ge=1, le=200, description="How many latest events to show.")
    max_pages: int = Field(
        default=5, ge=1, le=20, description="Pages of results to read at most (each ~1 MB)."
    )


@step("logs.filter", params=FilterParams, permissions=("logs:FilterLogEvents",))
async def filter_events(ctx: StepContext, params: FilterParams) -> StepOutput:
    """The latest log events matching a filter pattern, newest first.

    Cheaper and faster than Logs Insights for "show me the latest errors". Reads at most
    ``max_pages`` pages, so on a very busy log group the count is a lower bound.

    Example:
        - id: errors
          uses: logs.filter
          with:
            log_group: /aws/lambda/checkout
            pattern: "?ERROR ?Exception ?Task timed out"
            limit: 10
    """
    args: dict[str, Any] = {
        "logGroupName": params.log_group,
        "startTime": int((ctx.now - params.lookback).timestamp() * 1000),
        "endTime": int(ctx.now.timestamp() * 1000),
    }
    if params.pattern:
        args["filterPattern"] = params.pattern
    try:
        pages = await ctx.paginate("logs", "filter_log_events", max_pages=params.max_pages, **args)
    except StepError as exc:
        if "ResourceNotFoundException" in exc.user_message:
            raise StepError(
                f"There is no log group `{params.log_group}` in {ctx.target.region}."
            ) from exc
        raise
    events = [e for page in pages for e in page.get("events", [])]
    events.sort(key=lambda e: int(e.get("timestamp", 0)), reverse=True)
    more = len(pages) == params.max_pages and bool(pages[-1].get("nextToken"))
    matching = f"matching `{params.pattern}` " if params.pattern else ""
    window = f"the last {format_duration(params.lookback)}"
    if not events:
        return StepOutput(
            summary=f"No events {matching}in `{params.log_group}` in {window}.",
            data={"count": 0, "events": []},
        )
    shown = [_event(e) for e in events[: params.limit]]
    count = f"At least {len(events)}" if more else str(len(events))
    noun = "event" if len(events) == 1 else "events"
    latest = shown[0]
    first_line = latest["message"].splitlines()[0] if latest["message"] else ""
    return StepOutput(
        summary=f"{count} {noun} {matching}in `{params.log_group}` in {window}"
        f"{f' (showing the latest {len(shown)})' if len(shown) < len(events) else ''}; "
        f"latest at {latest['time']}: {_cell(first_line)[:150]}",
        tables=(
            Table(
                columns=("Time (UTC)", "Stream", "Message"),
                rows=tuple((e["time"], e["stream"], e["message"]) for e in shown),
                title=f"Latest events in {params.log_group}",
            ),
        ),
        data={"count": len(events), "events": shown},
        evidence=(
            (
                Symptom(
                    f"{count.lower()} log {noun} match `{params.pattern}` in `{params.log_group}`",
                    (params.log_group, params.log_group.rstrip("/").rsplit("/", 1)[-1]),
                    since=datetime.fromtimestamp(int(events[-1].get("timestamp", 0)) / 1000, UTC),
                ),
            )
            if params.pattern
            else ()
        ),
    )


def _event(raw: dict[str, Any]) -> dict[str, str]:
    when = datetime.fromtimestamp(int(raw.get("timestamp", 0)) / 1000, tz=UTC)
    return {
        "time": f"{when:%Y-%m-%d %H:%M:%S}",
        "stream": str(raw.get("logStreamName", "")),
        "message": _cell(str(raw.get("message", ""))),
    }


STEPS = (insights, filter_events)
