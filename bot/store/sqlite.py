"""The default store: one SQLite file, in WAL mode, driven from one dedicated thread.

The connection lives on a single worker thread; every coroutine hands its statements to that
thread, so the event loop never waits on the disk. Each write is committed (``synchronous =
FULL``: synced to disk) before its coroutine returns. Conditional writes — dedupe, claims,
leases, incident and schedule compare-and-set — are single statements or ``BEGIN IMMEDIATE``
transactions, so they hold between several processes sharing the file too.

Every call first checks that the file at ``path`` is still the one that was opened
(``bot.store.sqlite_file``) and raises ``StoreUnavailable`` otherwise; so does a statement
SQLite cannot run (disk full, I/O error, read-only).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import astuple, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bot.errors import ConfigError
from bot.store.base import InboxItem, Incident, RunRecord, StoreUnavailable
from bot.store.retention import Cutoffs, Pruned
from bot.store.sqlite_file import OpenedFile, write_health_row
from bot.store.sqlite_retention import prune
from bot.store.sqlite_schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

T = TypeVar("T")

_INCIDENT_COLUMNS = tuple(f.name for f in fields(Incident))
_INCIDENT_TIMES = {"opened_at", "state_changed_at", "muted_until", "resolved_at"}


def _us(when: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken to be UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _opt_us(when: datetime | None) -> int | None:
    return None if when is None else _us(when)


def _dt(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _opt_dt(us: int | None) -> datetime | None:
    return None if us is None else _dt(us)


@contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the database's write lock up front."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteStore:
    """``Store`` on a SQLite file; the file and its directory are created on first start."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout: timedelta = timedelta(seconds=10),
        owner: str = "",
        min_free_bytes: int = 1024 * 1024,
    ):
        """``owner`` names this process's health row (default ``hostname:pid``);
        ``check_writable`` fails when the disk has less than ``min_free_bytes`` free."""
        self.path = Path(path)
        self._busy_ms = int(busy_timeout.total_seconds() * 1000)
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._min_free = min_free_bytes
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triagebot-store")
        self._conn: sqlite3.Connection | None = None  # used only on the worker thread
        self._opened: OpenedFile | None = None
        self._closed = False

    # plumbing

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise RuntimeError(f"the store {self.path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._on_worker, fn, *args)
        )

    def _on_worker(self, fn: Callable[..., T], *args: Any) -> T:
        if self._conn is None:
            self._conn = self._open()
        elif self._opened is not None:
            self._opened.check()
        try:
            return fn(self._conn, *args)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"the store {self.path} cannot be used: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the directory for the store {self.path}: {exc.strerror}"
            ) from exc
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_ms / 1000)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the store {self.path}: {exc}") from exc
        try:
            self._opened = OpenedFile(self.path)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("SQLite store %s is in %s mode, not WAL", self.path, mode)
            conn.execute("PRAGMA synchronous = FULL")
            self._migrate(conn)
        except (sqlite3.Error, OSError) as exc:
            conn.close()
            raise ConfigError(f"cannot open the store {self.path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with _write(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"the store {self.path} has schema version {version}, newer than this "
                    f"triagebot understands ({SCHEMA_VERSION}); upgrade triagebot"
                )
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        log.info("SQLite store %s at schema version %d", self.path, SCHEMA_VERSION)

    # lifecycle

    async def start(self) -> None:
        await self._run(lambda conn: None)

    async def check_writable(self) -> None:
        try:
            await self._run(write_health_row, self.path, self._owner, self._min_free)
        except RuntimeError as exc:  # closed
            raise StoreUnavailable(str(exc)) from exc
        except ConfigError as exc:  # could not (re)open the file
            raise StoreUnavailable(exc.user_message) from exc

    async def healthy(self) -> bool:
        try:
            await self.check_writable()
        except StoreUnavailable:
            return False
        return True

    async def close(self) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_on_worker)
        self._closed = True
        self._executor.shutdown(wait=False)

    def _close_on_worker(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error as exc:  # the last checkpoint; the WAL keeps what it holds
                log.warning("closing the store %s: %s", self.path, exc)
            self._conn = None

    async def prune(self, cutoffs: Cutoffs) -> Pruned:
        """Delete what is older than the retention (``bot/store/sqlite_retention.py``)."""
        return await self._run(prune, self.path, cutoffs)

    # runs

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
        rows = await self._run(_select, "SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return _run_from_row(rows[0]) if rows else None

    async def recent_runs(self, channel: str, limit: int) -> list[RunRecord]:
        rows = await self._run(
            _select,
            "SELECT * FROM runs WHERE channel = ? ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (channel, limit),
        )
        return [_run_from_row(row) for row in rows]

    async def save_output(self, run_id: str, output: str) -> None:
        await self._run(
            _change,
            "INSERT OR REPLACE INTO run_outputs (run_id, output) VALUES (?, ?)",
            (run_id, output),
        )

    async def run_output(self, run_id: str) -> str | None:
        rows = await self._run(
            _select, "SELECT output FROM run_outputs WHERE run_id = ?", (run_id,)
        )
        return str(rows[0]["output"]) if rows else None

    # inbox

    async def inbox_add(
        self, message_id: str, source: str, body: str, received_at: datetime
    ) -> bool:
        InboxItem(message_id, source, body, received_at)  # validates source
        changed = await self._run(
            _change,
            "INSERT OR IGNORE INTO inbox (message_id, source, body, received_at, status)"
            " VALUES (?, ?, ?, ?, 'pending')",
            (message_id, source, body, _us(received_at)),
        )
        return changed == 1

    async def inbox_get(self, message_id: str) -> InboxItem | None:
        rows = await self._run(_select, "SELECT * FROM inbox WHERE message_id = ?", (message_id,))
        return _inbox_from_row(rows[0]) if rows else None

    async def inbox_claim(
        self, message_id: str, owner: str, lease: timedelta, now: datetime
    ) -> bool:
        changed = await self._run(
            _change,
            "UPDATE inbox SET status = 'processing', owner = ?, lease_until = ?,"
            " attempts = attempts + 1"
            " WHERE message_id = ? AND (status = 'pending'"
            " OR (status = 'processing' AND lease_until <= ?))",
            (owner, _us(now + lease), message_id, _us(now)),
        )
        return changed == 1

    async def inbox_done(self, message_id: str) -> None:
        await self._run(
            _change,
            "UPDATE inbox SET status = 'done', lease_until = NULL, error = '' WHERE message_id = ?",
            (message_id,),
        )

    async def inbox_failed(self, message_id: str, error: str) -> None:
        await self._run(
            _change,
            "UPDATE inbox SET status = 'failed', lease_until = NULL, error = ?"
            " WHERE message_id = ?",
            (error, message_id),
        )

    async def inbox_failed_count(self) -> int:
        rows = await self._run(_select, "SELECT COUNT(*) FROM inbox WHERE status = 'failed'", ())
        return int(rows[0][0])

    async def inbox_unfinished(self, now: datetime) -> list[InboxItem]:
        rows = await self._run(
            _select,
            "SELECT * FROM inbox WHERE status = 'pending'"
            " OR (status = 'processing' AND lease_until <= ?) ORDER BY received_at, rowid",
            (_us(now),),
        )
        return [_inbox_from_row(row) for row in rows]

    # incidents

    async def incident_get(self, key: str) -> Incident | None:
        rows = await self._run(
            _select,
            "SELECT * FROM incidents WHERE key = ?"
            " ORDER BY resolved_at IS NULL DESC, opened_at DESC LIMIT 1",
            (key,),
        )
        return _incident_from_row(rows[0]) if rows else None

    async def incident_create(self, incident: Incident) -> bool:
        return await self._run(_incident_create, incident)

    async def incident_update(self, incident: Incident, expected_version: int) -> bool:
        return await self._run(_incident_update, incident, expected_version)

    async def incidents_opened_since(self, route: str, since: datetime) -> int:
        rows = await self._run(
            _select,
            "SELECT COUNT(*) FROM incidents WHERE route = ? AND opened_at >= ?",
            (route, _us(since)),
        )
        return int(rows[0][0])

    async def incident_find_by_root(self, channel: str, ts: str) -> Incident | None:
        if not ts:
            return None
        rows = await self._run(
            _select,
            "SELECT * FROM incidents WHERE channel = ? AND root_ts = ?"
            " ORDER BY opened_at DESC LIMIT 1",
            (channel, ts),
        )
        return _incident_from_row(rows[0]) if rows else None

    # schedule state, leases, once-only claims

    async def lease_acquire(self, name: str, owner: str, ttl: timedelta, now: datetime) -> bool:
        changed = await self._run(
            _change,
            "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
            " expires_at = excluded.expires_at"
            " WHERE leases.expires_at <= ? OR leases.owner = excluded.owner",
            (name, owner, _us(now + ttl), _us(now)),
        )
        return changed == 1

    async def lease_release(self, name: str, owner: str) -> None:
        await self._run(_change, "DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    async def schedule_get(self, job: str) -> str | None:
        rows = await self._run(_select, "SELECT value FROM schedule WHERE job = ?", (job,))
        return str(rows[0][0]) if rows else None

    async def schedule_set(self, job: str, value: str) -> None:
        await self._run(
            _change,
            "INSERT INTO schedule (job, value) VALUES (?, ?)"
            " ON CONFLICT (job) DO UPDATE SET value = excluded.value",
            (job, value),
        )

    async def schedule_cas(self, job: str, expected: str | None, value: str) -> bool:
        if expected is None:
            sql = "INSERT OR IGNORE INTO schedule (job, value) VALUES (?, ?)"
            args: tuple[str, ...] = (job, value)
        else:
            sql = "UPDATE schedule SET value = ? WHERE job = ? AND value = ?"
            args = (value, job, expected)
        return await self._run(_change, sql, args) == 1

    async def claim_once(self, key: str, owner: str, now: datetime) -> bool:
        changed = await self._run(
            _change,
            "INSERT OR IGNORE INTO claims (key, owner, claimed_at) VALUES (?, ?, ?)",
            (key, owner, _us(now)),
        )
        return changed == 1


# Statements, run on the worker thread. A single statement outside BEGIN is its own
# transaction, committed when it returns.


def _select(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
    return conn.execute(sql, args).fetchall()


def _change(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> int:
    return conn.execute(sql, args).rowcount


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
            _us(rec.started_at),
            _opt_us(rec.finished_at),
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
        (_us(finished_at), str(outcome), json.dumps(step_statuses), run_id),
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
        started_at=_dt(row["started_at"]),
        finished_at=_opt_dt(row["finished_at"]),
        outcome=row["outcome"],
        step_statuses=json.loads(row["step_statuses"]),
        message_ts=row["message_ts"],
        thread_ts=row["thread_ts"],
    )


def _inbox_from_row(row: sqlite3.Row) -> InboxItem:
    return InboxItem(
        message_id=row["message_id"],
        source=row["source"],
        body=row["body"],
        received_at=_dt(row["received_at"]),
        status=row["status"],
        attempts=row["attempts"],
        owner=row["owner"],
        lease_until=_opt_dt(row["lease_until"]),
        error=row["error"],
    )


def _incident_values(incident: Incident) -> tuple[Any, ...]:
    return tuple(
        _opt_us(value) if name in _INCIDENT_TIMES else value
        for name, value in zip(_INCIDENT_COLUMNS, astuple(incident), strict=True)
    )


def _incident_from_row(row: sqlite3.Row) -> Incident:
    values: dict[str, Any] = {
        name: _opt_dt(row[name]) if name in _INCIDENT_TIMES else row[name]
        for name in _INCIDENT_COLUMNS
    }
    return Incident(**values)


def _incident_create(conn: sqlite3.Connection, incident: Incident) -> bool:
    placeholders = ", ".join("?" for _ in _INCIDENT_COLUMNS)
    try:
        conn.execute(
            f"INSERT INTO incidents ({', '.join(_INCIDENT_COLUMNS)}) VALUES ({placeholders})",
            _incident_values(incident),
        )
    except sqlite3.IntegrityError:
        return False  # an open incident with this key exists (or this very one)
    return True


def _incident_update(conn: sqlite3.Connection, incident: Incident, expected_version: int) -> bool:
    """Compare-and-set on (key, opened_at, version); the stored version becomes expected + 1."""
    changing = [c for c in _INCIDENT_COLUMNS if c not in ("key", "opened_at", "version")]
    values = dict(zip(_INCIDENT_COLUMNS, _incident_values(incident), strict=True))
    try:
        cursor = conn.execute(
            f"UPDATE incidents SET {', '.join(f'{c} = ?' for c in changing)}, version = ?"
            " WHERE key = ? AND opened_at = ? AND version = ?",
            (
                *(values[c] for c in changing),
                expected_version + 1,
                values["key"],
                values["opened_at"],
                expected_version,
            ),
        )
    except sqlite3.IntegrityError:
        return False  # reopening it would make two open incidents for one key
    return cursor.rowcount == 1
