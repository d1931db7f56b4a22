"""What the bot remembers between requests and restarts, and the one interface every store offers.

Records are frozen dataclasses; a ``Store`` is anything with these async methods. Times are
timezone-aware datetimes (a naive one is taken to be UTC) and come back in UTC.

- runs: who ran which playbook where, and how it ended (``/triage history``);
- the inbox: every alarm message, recorded durably before it is acknowledged, handled exactly
  once (``inbox_add`` dedupes, ``inbox_claim`` hands it to one worker under a lease);
- incidents: one live Slack thread per alarm; writes are conditional so replicas never fork a
  thread;
- schedule state, leases and once-only claims: what the digest scheduler needs so that a
  digest is posted once per day, whichever process fires;
- the outbox: every Slack post that must arrive, recorded before it is sent and claimed under
  a lease by one sender at a time until Slack took it (``bot.outbound.outbox``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.errors import BotError

RUN_SOURCES = frozenset({"slash", "button", "alarm", "modal", "cli"})
RUN_OUTCOMES = frozenset({"running", "ok", "warn", "error"})
INBOX_SOURCES = frozenset({"sns", "sqs"})
INBOX_STATUSES = frozenset({"pending", "processing", "done", "failed"})
OUTBOX_STATES = frozenset({"pending", "sent", "dropped"})


class StoreUnavailable(BotError):
    """The store cannot be read or written just now (its file is gone or unwritable, the disk
    is full, the table is missing); ``user_message`` names the store and what is wrong."""


def _check(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(sorted(allowed))}, not {value!r}")


@dataclass(frozen=True)
class RunRecord:
    """One playbook run as ``/triage history`` lists it."""

    run_id: str
    channel: str  # Slack channel id; "" for runs from the CLI
    user: str  # Slack user id, "alarm" or "cli"
    playbook: str
    params: dict[str, str]
    source: str  # slash | button | alarm | modal | cli
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # running | ok | warn | error
    step_statuses: dict[str, str]  # step id → Status value
    message_ts: str = ""  # the result message
    thread_ts: str = ""  # the thread it was posted in, if any

    def __post_init__(self) -> None:
        _check(self.source, RUN_SOURCES, "source")
        _check(self.outcome, RUN_OUTCOMES, "outcome")


@dataclass(frozen=True)
class InboxItem:
    """One alarm message as it arrived (SNS body or SQS message body), and how far it got."""

    message_id: str  # the SNS MessageId: the same alarm through SNS and SQS dedupes
    source: str  # sns | sqs
    body: str
    received_at: datetime
    status: str = "pending"  # pending | processing | done | failed
    attempts: int = 0  # how many times it was claimed
    owner: str = ""  # who claimed it last
    lease_until: datetime | None = None  # a claim older than this may be taken over
    error: str = ""  # why it failed, when status is failed

    def __post_init__(self) -> None:
        _check(self.source, INBOX_SOURCES, "source")
        _check(self.status, INBOX_STATUSES, "status")


@dataclass(frozen=True)
class Delivery:
    """One Slack post that must arrive, as the outbox keeps it until Slack took it."""

    delivery_id: str  # the sender's delivery id: in the message's metadata, found by it
    channel: str
    payload: str  # JSON: the text, the blocks and what the message is (its metadata)
    created_at: datetime  # when it was first to be posted: a late post says how late
    due_at: datetime  # not tried again before this
    expires_at: datetime  # no longer worth posting after this: dropped, and logged
    thread_ts: str = ""  # the thread it goes in ...
    after: str = ""  # ... or the delivery whose message is its thread, once that is posted
    state: str = "pending"  # pending | sent | dropped
    attempts: int = 0  # how many times it was claimed
    owner: str = ""  # who claimed it last
    lease_until: datetime | None = None  # a claim older than this may be taken over
    ts: str = ""  # the message, once sent
    sent_at: datetime | None = None
    error: str = ""  # why the last try failed ("" while one is under way), or why dropped

    def __post_init__(self) -> None:
        _check(self.state, OUTBOX_STATES, "state")


@dataclass(frozen=True)
class Incident:
    """The Slack thread of one alarm incident.

    An incident is open until ``resolved_at`` is set; at most one incident per ``key`` is open.
    It is identified by ``key`` and ``opened_at``; ``version`` guards concurrent updates.
    """

    key: str  # which alarm this is (account, region, alarm name)
    route: str  # the route that matched: storms are counted per route
    channel: str
    root_ts: str  # the root message; "" until it is posted
    state: str  # the alarm state last seen: ALARM | OK | INSUFFICIENT_DATA | ...
    opened_at: datetime
    state_changed_at: datetime
    alarm_name: str
    acknowledged_by: str = ""
    muted_until: datetime | None = None
    resolved_at: datetime | None = None
    storm_root_ts: str = ""  # the shared root message when coalesced into an alarm storm
    note: str = ""  # the resolution note someone left (*Add note* on the resolved root)
    note_by: str = ""  # who left it (Slack user id)
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class Store(Protocol):
    """Durable state. Every write is committed before its coroutine returns."""

    async def start(self) -> None:
        """Open (and on first use create) the storage; safe to call more than once."""

    # runs
    async def record_run(self, rec: RunRecord) -> None:
        """Insert the run, or replace the record with the same ``run_id``."""

    async def finish_run(
        self,
        run_id: str,
        finished_at: datetime,
        outcome: str,
        step_statuses: dict[str, str],
    ) -> bool:
        """Mark a run finished; False if no such run was recorded."""

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def save_output(self, run_id: str, output: str) -> None:
        """Keep a finished run's full text output (for the *Details* button)."""

    async def run_output(self, run_id: str) -> str | None: ...

    async def recent_runs(self, channel: str, limit: int) -> list[RunRecord]:
        """The channel's last ``limit`` runs, newest first."""

    # inbox
    async def inbox_add(
        self, message_id: str, source: str, body: str, received_at: datetime
    ) -> bool:
        """Record a message; True if new, False if this id was seen before (any status)."""

    async def inbox_get(self, message_id: str) -> InboxItem | None: ...

    async def inbox_claim(
        self, message_id: str, owner: str, lease: timedelta, now: datetime
    ) -> bool:
        """Take a pending message (or one whose lease ran out) for ``lease``; one winner only."""

    async def inbox_done(self, message_id: str) -> None: ...

    async def inbox_failed(self, message_id: str, error: str) -> None: ...

    async def inbox_unfinished(self, now: datetime | None = None) -> list[InboxItem]:
        """Pending messages and claims whose lease expired by ``now``, oldest first: redo these
        at start. Without ``now``, every pending and claimed message (the backlog)."""

    # incidents
    async def incident_get(self, key: str) -> Incident | None:
        """The open incident for ``key``, else the one opened last, else None."""

    async def incident_create(self, incident: Incident) -> bool:
        """Store a new incident; False if one with that key is already open."""

    async def incident_update(self, incident: Incident, expected_version: int) -> bool:
        """Replace the incident if its stored version is ``expected_version`` (then bumped)."""

    async def incidents_of(self, key: str, since: datetime, limit: int) -> list[Incident]:
        """The key's incidents opened at ``since`` or later, newest first, at most ``limit``."""

    async def incident_find_by_root(self, channel: str, ts: str) -> Incident | None:
        """The incident whose root message is ``ts`` in ``channel``."""

    async def incidents_of_route(self, route: str, since: datetime, limit: int) -> list[Incident]:
        """The route's incidents opened at ``since`` or later, newest first, at most ``limit``
        (the shift hand-over)."""

    # schedule state, leases, once-only claims
    async def lease_acquire(self, name: str, owner: str, ttl: timedelta, now: datetime) -> bool:
        """Hold ``name`` until ``now + ttl``; True if free, expired, or already ours (renewed)."""

    async def lease_release(self, name: str, owner: str) -> None: ...

    async def schedule_get(self, job: str) -> str | None: ...

    async def schedule_set(self, job: str, value: str) -> None: ...

    async def schedule_cas(self, job: str, expected: str | None, value: str) -> bool:
        """Compare-and-set: write ``value`` only if the stored value is ``expected`` (``None``:
        only if there is none); True when written. Atomic between processes and replicas."""

    async def claim_once(self, key: str, owner: str, now: datetime) -> bool:
        """True for the first caller ever to claim ``key``, in any process; False after."""

    # outbox
    async def outbox_add(self, delivery: Delivery) -> bool:
        """Record a delivery; True if new, False if this id was recorded before (any state)."""

    async def outbox_get(self, delivery_id: str) -> Delivery | None: ...

    async def outbox_claim(
        self, delivery_id: str, owner: str, lease: timedelta, now: datetime
    ) -> bool:
        """Take a pending delivery that is due (and not claimed, or its lease ran out) for
        ``lease``, counting an attempt and clearing ``error`` (a claim that ends without one
        was cut short: its post may have landed); one winner only."""

    async def outbox_retry(self, delivery_id: str, due_at: datetime, error: str) -> None:
        """Release a claimed delivery, not to be tried again before ``due_at``."""

    async def outbox_sent(self, delivery_id: str, ts: str, sent_at: datetime) -> None: ...

    async def outbox_drop(self, delivery_id: str, error: str) -> None:
        """Give up on a delivery (Slack refused it, or it is no longer relevant)."""

    async def outbox_due(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries due by ``now`` and not held under a lease, the longest due first."""

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        """How many deliveries are pending (claimed or not, due or not), and when the oldest of
        them was first recorded (None when there is none): ``/healthz`` and ``/metrics``."""

    async def inbox_failed_count(self) -> int:
        """How many messages were given up on (status failed): ``/healthz`` reports it."""

    async def check_writable(self) -> None:
        """A real write (a health item of this process), as every other write would do it;
        raises ``StoreUnavailable`` saying what is wrong. The SQLite store also checks that
        the file at its path is still the one it has open."""

    async def healthy(self) -> bool:
        """``check_writable`` as a yes or no."""

    async def close(self) -> None: ...
