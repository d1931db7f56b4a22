"""Pruning a SQLite store: delete what the retention let go, then shrink the file.

Runs on the store's worker thread (``SqliteStore.prune``). The deletes are one ``BEGIN
IMMEDIATE`` transaction, so several processes sharing the file may prune at once. Freed pages
would otherwise stay in the file for reuse (it never shrinks, and grows again after a burst):
the file is switched once to ``auto_vacuum = INCREMENTAL`` (a one-time ``VACUUM`` of a file
made before), after which each prune hands the free pages back with ``incremental_vacuum`` and
truncates the write-ahead log.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.store.retention import Cutoffs, Pruned

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INCREMENTAL = 2  # PRAGMA auto_vacuum's answer for INCREMENTAL


def _us(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(microseconds=1)


def prune(conn: sqlite3.Connection, path: Path, cutoffs: Cutoffs) -> Pruned:
    records, inbox = _us(cutoffs.records), _us(cutoffs.inbox)
    conn.execute("BEGIN IMMEDIATE")
    try:
        pruned = Pruned(
            outputs=conn.execute(
                "DELETE FROM run_outputs WHERE run_id IN"
                " (SELECT run_id FROM runs WHERE started_at < ?)",
                (records,),
            ).rowcount,
            runs=conn.execute("DELETE FROM runs WHERE started_at < ?", (records,)).rowcount,
            messages=conn.execute("DELETE FROM inbox WHERE received_at < ?", (inbox,)).rowcount,
            # What is left of an older finished message is what dedupes a redelivery.
            slimmed=conn.execute(
                "UPDATE inbox SET body = '' WHERE received_at < ? AND body != ''"
                " AND status IN ('done', 'failed')",
                (records,),
            ).rowcount,
            incidents=conn.execute(
                "DELETE FROM incidents WHERE resolved_at IS NOT NULL AND resolved_at < ?",
                (records,),
            ).rowcount,
            leases=conn.execute(
                "DELETE FROM leases WHERE expires_at < ?", (_us(cutoffs.leases),)
            ).rowcount,
            health=conn.execute("DELETE FROM health WHERE checked_at < ?", (records,)).rowcount,
            deliveries=conn.execute(
                "DELETE FROM outbox WHERE expires_at < ? AND state != 'pending'", (records,)
            ).rowcount,
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    shrink(conn, path)
    return pruned


def shrink(conn: sqlite3.Connection, path: Path) -> None:
    """Give the file's free pages back to the file system, and empty the write-ahead log."""
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
        log.info("switching the store %s to incremental vacuum (a one-time VACUUM)", path)
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("VACUUM")
    else:
        # One step of execute() frees one page; a script runs the pragma to its end.
        conn.executescript("PRAGMA incremental_vacuum;")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # busy readers: next time
