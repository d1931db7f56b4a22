"""The SQLite schema, as numbered migrations; ``PRAGMA user_version`` says how many have run.

Times are INTEGER microseconds since the epoch (UTC): exact, and comparable in SQL.
Append a migration to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the first schema
    (
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            user TEXT NOT NULL,
            playbook TEXT NOT NULL,
            params TEXT NOT NULL,
            source TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            finished_at INTEGER,
            outcome TEXT NOT NULL,
            step_statuses TEXT NOT NULL,
            message_ts TEXT NOT NULL DEFAULT '',
            thread_ts TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX runs_by_channel ON runs (channel, started_at)",
        """CREATE TABLE inbox (
            message_id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            body TEXT NOT NULL,
            received_at INTEGER NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            owner TEXT NOT NULL DEFAULT '',
            lease_until INTEGER,
            error TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX inbox_unfinished ON inbox (status) WHERE status IN ('pending', 'processing')",
        """CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            route TEXT NOT NULL,
            channel TEXT NOT NULL,
            root_ts TEXT NOT NULL,
            state TEXT NOT NULL,
            opened_at INTEGER NOT NULL,
            state_changed_at INTEGER NOT NULL,
            alarm_name TEXT NOT NULL,
            acknowledged_by TEXT NOT NULL,
            muted_until INTEGER,
            resolved_at INTEGER,
            storm_root_ts TEXT NOT NULL,
            version INTEGER NOT NULL,
            UNIQUE (key, opened_at)
        )""",
        # The guarantee behind "one live thread per alarm": one open incident per key.
        "CREATE UNIQUE INDEX incidents_open_key ON incidents (key) WHERE resolved_at IS NULL",
        "CREATE INDEX incidents_by_route ON incidents (route, opened_at)",
        "CREATE INDEX incidents_by_root ON incidents (channel, root_ts)",
        """CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at INTEGER NOT NULL
        )""",
        """CREATE TABLE schedule (
            job TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        """CREATE TABLE claims (
            key TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            claimed_at INTEGER NOT NULL
        )""",
    ),
    # 2: the full text output of each run, for the *Details* button
    (
        """CREATE TABLE run_outputs (
            run_id TEXT PRIMARY KEY,
            output TEXT NOT NULL
        )""",
    ),
    # 3: GET /healthz writes a row per process; it counts the messages given up on
    (
        """CREATE TABLE health (
            owner TEXT PRIMARY KEY,
            checked_at INTEGER NOT NULL
        )""",
        "CREATE INDEX inbox_failed ON inbox (status) WHERE status = 'failed'",
    ),
    # 4: what the pruner looks for (bot/store/sqlite_retention.py): old runs, old messages,
    # incidents resolved long ago
    (
        "CREATE INDEX runs_by_start ON runs (started_at)",
        "CREATE INDEX inbox_by_received ON inbox (received_at)",
        "CREATE INDEX incidents_by_resolved ON incidents (resolved_at)"
        " WHERE resolved_at IS NOT NULL",
    ),
    # 5: an incident's resolution note and who left it (bot/incidents/notes.py)
    (
        "ALTER TABLE incidents ADD COLUMN note TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE incidents ADD COLUMN note_by TEXT NOT NULL DEFAULT ''",
    ),
    # 6: the outbox: Slack posts that must arrive, kept until Slack took them
    # (bot/store/sqlite_outbox.py)
    (
        """CREATE TABLE outbox (
            delivery_id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            due_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            thread_ts TEXT NOT NULL,
            after TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            owner TEXT NOT NULL DEFAULT '',
            lease_until INTEGER,
            ts TEXT NOT NULL DEFAULT '',
            sent_at INTEGER,
            error TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX outbox_due ON outbox (due_at) WHERE state = 'pending'",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
