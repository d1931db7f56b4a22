"""Coordination on SQLite: leases, schedule state and its compare-and-set, once-only claims."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store.sqlite_base import SqliteBase, change, select, us


class SqliteCoordination(SqliteBase):
    """``lease_*``, ``schedule_*`` and ``claim_once`` of the ``Store`` protocol."""

    async def lease_acquire(self, name: str, owner: str, ttl: timedelta, now: datetime) -> bool:
        changed = await self._run(
            change,
            "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
            " expires_at = excluded.expires_at"
            " WHERE leases.expires_at <= ? OR leases.owner = excluded.owner",
            (name, owner, us(now + ttl), us(now)),
        )
        return changed == 1

    async def lease_release(self, name: str, owner: str) -> None:
        await self._run(change, "DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    async def schedule_get(self, job: str) -> str | None:
        rows = await self._run(select, "SELECT value FROM schedule WHERE job = ?", (job,))
        return str(rows[0][0]) if rows else None

    async def schedule_set(self, job: str, value: str) -> None:
        await self._run(
            change,
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
        return await self._run(change, sql, args) == 1

    async def claim_once(self, key: str, owner: str, now: datetime) -> bool:
        changed = await self._run(
            change,
            "INSERT OR IGNORE INTO claims (key, owner, claimed_at) VALUES (?, ?, ?)",
            (key, owner, us(now)),
        )
        return changed == 1
