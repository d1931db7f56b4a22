"""Run history on SQLite: the runs of ``/triage history`` and their full outputs."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from bot.store.base import RunRecord
from bot.store.sqlite_base import SqliteBase, change, dt, opt_dt, opt_us, select, us


class SqliteRuns(SqliteBase):
    """``record_run`` … ``run_output`` of the ``Store`` protocol."""

    async def record_run(self, rec: RunRecord) -> None:
        await self._run(_record_run, rec)

    async def finish_run(
        self,
        run_id: str,
        finished_at: datetime,
        outcome: str,
        step_statuses: dict[str, str],
    ) -> bool:
        return await self._run(_finish_run, run_id, finished_at, outcome, step_statuses)

    async def get_run(self, run_id: str) -> RunRecord | None:
        rows = await self._run(select, "SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return _run_from_row(rows[0]) if rows else None

    async def recent_runs(self, channel: str, limit: int) -> list[RunRecord]:
        rows = await self._run(
            select,
            "SELECT * FROM runs WHERE channel = ? ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (channel, limit),
        )
        return [_run_from_row(row) for row in rows]

    async def save_output(self, run_id: str, output: str) -> None:
        await self._run(
            change,
            "INSERT OR REPLACE INTO run_outputs (run_id, output) VALUES (?, ?)",
            (run_id, output),
        )

    async def run_output(self, run_id: str) -> str | None:
        rows = await self._run(select, "SELECT output FROM run_outputs WHERE run_id = ?", (run_id,))
        return str(rows[0]["output"]) if rows else None


def _record_run(conn: sqlite3.Connection, rec: RunRecord) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO runs (run_id, channel, user, playbook, params, source,"
        " started_at, finished_at, outcome, step_statuses, message_ts, thread_ts)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rec.run_id,
            rec.channel,
            rec.user,
            rec.playbook,
            json.dumps(rec.params, sort_keys=True),
            str(rec.source),
            us(rec.started_at),
            opt_us(rec.finished_at),
            str(rec.outcome),
            json.dumps(rec.step_statuses),
            rec.message_ts,
            rec.thread_ts,
        ),
    )


def _finish_run(
    conn: sqlite3.Connection,
    run_id: str,
    finished_at: datetime,
    outcome: str,
    step_statuses: dict[str, str],
) -> bool:
    cursor = conn.execute(
        "UPDATE runs SET finished_at = ?, outcome = ?, step_statuses = ? WHERE run_id = ?",
        (us(finished_at), str(outcome), json.dumps(step_statuses), run_id),
    )
    return cursor.rowcount == 1


def _run_from_row(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        channel=row["channel"],
        user=row["user"],
        playbook=row["playbook"],
        params=json.loads(row["params"]),
        source=row["source"],
        started_at=dt(row["started_at"]),
        finished_at=opt_dt(row["finished_at"]),
        outcome=row["outcome"],
        step_statuses=json.loads(row["step_statuses"]),
        message_ts=row["message_ts"],
        thread_ts=row["thread_ts"],
    )
