"""The alarm inbox on SQLite: recorded once (``INSERT OR IGNORE``), claimed under a lease."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from bot.store.base import InboxItem
from bot.store.sqlite_base import SqliteBase, change, dt, opt_dt, select, us


class SqliteInbox(SqliteBase):
    """``inbox_*`` of the ``Store`` protocol."""

    async def inbox_add(
        self, message_id: str, source: str, body: str, received_at: datetime
    ) -> bool:
        InboxItem(message_id, source, body, received_at)  # validates source
        changed = await self._run(
            change,
            "INSERT OR IGNORE INTO inbox (message_id, source, body, received_at, status)"
            " VALUES (?, ?, ?, ?, 'pending')",
            (message_id, source, body, us(received_at)),
        )
        return changed == 1

    async def inbox_get(self, message_id: str) -> InboxItem | None:
        rows = await self._run(select, "SELECT * FROM inbox WHERE message_id = ?", (message_id,))
        return _inbox_from_row(rows[0]) if rows else None

    async def inbox_claim(
        self, message_id: str, owner: str, lease: timedelta, now: datetime
    ) -> bool:
        changed = await self._run(
            change,
            "UPDATE inbox SET status = 'processing', owner = ?, lease_until = ?,"
            " attempts = attempts + 1"
            " WHERE message_id = ? AND (status = 'pending'"
            " OR (status = 'processing' AND lease_until <= ?))",
            (owner, us(now + lease), message_id, us(now)),
        )
        return changed == 1

    async def inbox_done(self, message_id: str) -> None:
        await self._run(
            change,
            "UPDATE inbox SET status = 'done', lease_until = NULL, error = '' WHERE message_id = ?",
            (message_id,),
        )

    async def inbox_failed(self, message_id: str, error: str) -> None:
        await self._run(
            change,
            "UPDATE inbox SET status = 'failed', lease_until = NULL, error = ?"
            " WHERE message_id = ?",
            (error, message_id),
        )

    async def inbox_failed_count(self) -> int:
        rows = await self._run(select, "SELECT COUNT(*) FROM inbox WHERE status = 'failed'", ())
        return int(rows[0][0])

    async def inbox_unfinished(self, now: datetime | None = None) -> list[InboxItem]:
        claims = "status = 'processing'" + (" AND lease_until <= ?" if now is not None else "")
        rows = await self._run(
            select,
            f"SELECT * FROM inbox WHERE status = 'pending' OR ({claims})"
            " ORDER BY received_at, rowid",
            (us(now),) if now is not None else (),
        )
        return [_inbox_from_row(row) for row in rows]


def _inbox_from_row(row: sqlite3.Row) -> InboxItem:
    return InboxItem(
        message_id=row["message_id"],
        source=row["source"],
        body=row["body"],
        received_at=dt(row["received_at"]),
        status=row["status"],
        attempts=row["attempts"],
        owner=row["owner"],
        lease_until=opt_dt(row["lease_until"]),
        error=row["error"],
    )
