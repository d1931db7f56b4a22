"""The SQLite store's plumbing: the file, its one worker thread, migrations and lifecycle.

The connection lives on a single worker thread; every coroutine hands its statements to that
thread (``SqliteBase._run``), so the event loop never waits on the disk. Each write is
committed (``synchronous = FULL``: synced to disk) before its coroutine returns. Conditional
writes are single statements or ``BEGIN IMMEDIATE`` transactions (``write_transaction``), so
they hold between several processes sharing the file too.

Every call first checks that the file at ``path`` is still the one that was opened
(``bot.store.sqlite_file``) and raises ``StoreUnavailable`` otherwise; so does a statement
SQLite cannot run (disk full, I/O error, read-only). The capabilities of the ``Store``
protocol build on this: ``sqlite_runs``, ``sqlite_inbox``, ``sqlite_incidents``,
``sqlite_coordination``; ``bot.store.sqlite`` puts them together.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bot.errors import ConfigError
from bot.store.base import StoreUnavailable
from bot.store.retention import Cutoffs, Pruned
from bot.store.sqlite_file import OpenedFile, write_health_row
from bot.store.sqlite_retention import prune
from bot.store.sqlite_schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

T = TypeVar("T")


def us(when: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken to be UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def opt_us(when: datetime | None) -> int | None:
    return None if when is None else us(when)


def dt(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def opt_dt(us: int | None) -> datetime | None:
    return None if us is None else dt(us)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the database's write lock up front."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteBase:
    """The file, its worker thread and lifecycle; the file and its directory are created on
    first start."""

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
        with write_transaction(conn):
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


# Statements, run on the worker thread. A single statement outside BEGIN is its own
# transaction, committed when it returns.


def select(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
    return conn.execute(sql, args).fetchall()


def change(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> int:
    return conn.execute(sql, args).rowcount
