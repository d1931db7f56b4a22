"""The outbox on SQLite: recorded once (``INSERT OR IGNORE``), claimed under a lease."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from bot.store.base import Delivery
from bot.store.sqlite_base import SqliteBase, change, dt, opt_dt, select, us

_CLAIMABLE = "state = 'pending' AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"


class SqliteOutbox(SqliteBase):
    """``outbox_*`` of the ``Store`` protocol."""

    async def outbox_add(self, delivery: Delivery) -> bool:
        d = delivery
        changed = await self._run(
            change,
            "INSERT OR IGNORE INTO outbox (delivery_id, channel, payload, created_at, due_at,"
            " expires_at, thread_ts, after, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            (
                d.delivery_id,
                d.channel,
                d.payload,
                us(d.created_at),
                us(d.due_at),
                us(d.expires_at),
                d.thread_ts,
                d.after,
            ),
        )
        return changed == 1

    async def outbox_get(self, delivery_id: str) -> Delivery | None:
        rows = await self._run(select, "SELECT * FROM outbox WHERE delivery_id = ?", (delivery_id,))
        return _delivery_from_row(rows[0]) if rows else None

    async def outbox_claim(
        self, delivery_id: str, owner: str, lease: timedelta, now: datetime
    ) -> bool:
        changed = await self._run(
            change,
            "UPDATE outbox SET owner = ?, lease_until = ?, attempts = attempts + 1, error = ''"
            f" WHERE delivery_id = ? AND {_CLAIMABLE}",
            (owner, us(now + lease), delivery_id, us(now), us(now)),
        )
        return changed == 1

    async def outbox_retry(self, delivery_id: str, due_at: datetime, error: str) -> None:
        await self._run(
            change,
            "UPDATE outbox SET due_at = ?, lease_until = NULL, error = ?"
            " WHERE delivery_id = ? AND state = 'pending'",
            (us(due_at), error, delivery_id),
        )

    async def outbox_sent(self, delivery_id: str, ts: str, sent_at: datetime) -> None:
        await self._run(
            change,
            "UPDATE outbox SET state = 'sent', ts = ?, sent_at = ?, lease_until = NULL,"
            " error = '' WHERE delivery_id = ?",
            (ts, us(sent_at), delivery_id),
        )

    async def outbox_drop(self, delivery_id: str, error: str) -> None:
        await self._run(
            change,
            "UPDATE outbox SET state = 'dropped', lease_until = NULL, error = ?"
            " WHERE delivery_id = ? AND state = 'pending'",
            (error, delivery_id),
        )

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        [(count, oldest)] = await self._run(
            select, "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'", ()
        )
        return int(count), (dt(oldest) if oldest is not None else None)

    async def outbox_due(self, now: datetime, limit: int) -> list[Delivery]:
        rows = await self._run(
            select,
            f"SELECT * FROM outbox WHERE {_CLAIMABLE} ORDER BY due_at, rowid LIMIT ?",
            (us(now), us(now), limit),
        )
        return [_delivery_from_row(row) for row in rows]


def _delivery_from_row(row: sqlite3.Row) -> Delivery:
    return Delivery(
        delivery_id=row["delivery_id"],
        channel=row["channel"],
        payload=row["payload"],
        created_at=dt(row["created_at"]),
        due_at=dt(row["due_at"]),
        expires_at=dt(row["expires_at"]),
        thread_ts=row["thread_ts"],
        after=row["after"],
        state=row["state"],
        attempts=row["attempts"],
        owner=row["owner"],
        lease_until=opt_dt(row["lease_until"]),
        ts=row["ts"],
        sent_at=opt_dt(row["sent_at"]),
        error=row["error"],
    )
