"""Incidents on SQLite: one open incident per key (a unique partial index), versioned updates."""

from __future__ import annotations

import sqlite3
from dataclasses import astuple, fields
from datetime import datetime
from typing import Any, Literal

from bot.store.base import Incident
from bot.store.sqlite_base import SqliteBase, opt_dt, opt_us, select, us

_INCIDENT_COLUMNS = tuple(f.name for f in fields(Incident))
_INCIDENT_TIMES = {"opened_at", "state_changed_at", "muted_until", "resolved_at"}


class SqliteIncidents(SqliteBase):
    """``incident_*`` of the ``Store`` protocol."""

    async def incident_get(self, key: str) -> Incident | None:
        rows = await self._run(
            select,
            "SELECT * FROM incidents WHERE key = ?"
            " ORDER BY resolved_at IS NULL DESC, opened_at DESC LIMIT 1",
            (key,),
        )
        return _incident_from_row(rows[0]) if rows else None

    async def incident_create(self, incident: Incident) -> bool:
        return await self._run(_incident_create, incident)

    async def incident_update(self, incident: Incident, expected_version: int) -> bool:
        return await self._run(_incident_update, incident, expected_version)

    async def incidents_of(self, key: str, since: datetime, limit: int) -> list[Incident]:
        return await self._newest("key", key, since, limit)

    async def incidents_of_route(self, route: str, since: datetime, limit: int) -> list[Incident]:
        return await self._newest("route", route, since, limit)

    async def _newest(
        self, column: Literal["key", "route"], value: str, since: datetime, limit: int
    ) -> list[Incident]:
        """Incidents whose ``column`` (``key``, ``route``) is ``value``, opened at ``since`` or
        later, newest first."""
        rows = await self._run(
            select,
            f"SELECT * FROM incidents WHERE {column} = ? AND opened_at >= ?"
            " ORDER BY opened_at DESC LIMIT ?",
            (value, us(since), limit),
        )
        return [_incident_from_row(row) for row in rows]

    async def incident_find_by_root(self, channel: str, ts: str) -> Incident | None:
        if not ts:
            return None
        rows = await self._run(
            select,
            "SELECT * FROM incidents WHERE channel = ? AND root_ts = ?"
            " ORDER BY opened_at DESC LIMIT 1",
            (channel, ts),
        )
        return _incident_from_row(rows[0]) if rows else None


def _incident_values(incident: Incident) -> tuple[Any, ...]:
    return tuple(
        opt_us(value) if name in _INCIDENT_TIMES else value
        for name, value in zip(_INCIDENT_COLUMNS, astuple(incident), strict=True)
    )


def _incident_from_row(row: sqlite3.Row) -> Incident:
    values: dict[str, Any] = {
        name: opt_dt(row[name]) if name in _INCIDENT_TIMES else row[name]
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
