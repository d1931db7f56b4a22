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

from bot.store.sqlite_coordination import SqliteCoordination
from bot.store.sqlite_inbox import SqliteInbox
from bot.store.sqlite_incidents import SqliteIncidents
from bot.store.sqlite_outbox import SqliteOutbox
from bot.store.sqlite_runs import SqliteRuns


class SqliteStore(SqliteRuns, SqliteInbox, SqliteOutbox, SqliteIncidents, SqliteCoordination):
    """``Store`` on a SQLite file; the file and its directory are created on first start.

    The plumbing is ``bot.store.sqlite_base``; each capability of the protocol is a module of
    its own (run history, the inbox, the outbox, incidents, coordination)."""
