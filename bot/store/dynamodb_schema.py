"""The DynamoDB store's one table: its definition, item keys, and records ↔ items.

Single-table design; every item has string keys ``PK`` and ``SK``:

=========================  ===============  ==========================================
item                       PK               SK
=========================  ===============  ==========================================
run                        RUN#<run_id>     RUN
run output                 OUTPUT#<run_id>  OUTPUT
inbox message              INBOX#<id>       INBOX
outbox delivery            OUTBOX#<id>      OUTBOX  (``bot/store/dynamodb_outbox.py``)
incident                   INCIDENT#<key>   AT#<opened_at>
open pointer (≤ 1 per key) INCIDENT#<key>   OPEN  (``opened_at`` of the open incident)
lease                      LEASE#<name>     LEASE
schedule state             SCHEDULE#<job>   SCHEDULE
once-only claim            CLAIM#<key>      CLAIM
health (one per process)   HEALTH#<owner>   HEALTH  (``GET /healthz``'s conditional write)
=========================  ===============  ==========================================

Two overloaded global secondary indexes serve the reads that cross items:
``GSI1`` — runs by channel (``CHANNEL#<c>``, newest last), unfinished inbox messages
(``INBOX#UNFINISHED``; the attributes are removed when a message is done, and become
``INBOX#FAILED`` when it is given up on), pending outbox deliveries by due time
(``OUTBOX#PENDING``) and incidents by route (``ROUTE#<r>``); ``GSI2`` — incidents by root message
(``ROOT#<channel>#<ts>``). Index reads are eventually consistent (usually well under a second).

Times are integer microseconds since the epoch (UTC), as in the SQLite store; in sort keys they
are zero-padded to 20 digits so that string order is time order.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.store.base import InboxItem, Incident, RunRecord

Item = dict[str, dict[str, Any]]
"""A DynamoDB item as the low-level client speaks it: ``{"name": {"S": "value"}}``."""

GSIS = ("GSI1", "GSI2")
UNFINISHED = "INBOX#UNFINISHED"
FAILED = "INBOX#FAILED"
OPEN = "OPEN"
MAX_OUTPUT_BYTES = 350_000  # compressed; DynamoDB's item limit is 400 KB

_INCIDENT_TIMES = {"opened_at", "state_changed_at", "muted_until", "resolved_at"}
_INCIDENT_INTS = {"version"}
_INCIDENT_FIELDS = tuple(f.name for f in fields(Incident))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def us(when: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken to be UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def opt_us(when: datetime | None) -> int | None:
    return None if when is None else us(when)


def dt(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def opt_dt(micros: int | None) -> datetime | None:
    return None if micros is None else dt(micros)


def table_definition(table: str) -> dict[str, Any]:
    """``CreateTable`` arguments: on-demand capacity, both indexes projecting every attribute."""
    names = ["PK", "SK"] + [f"{gsi}{part}" for gsi in GSIS for part in ("PK", "SK")]
    return {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in names],
        "KeySchema": _key_schema("PK", "SK"),
        "GlobalSecondaryIndexes": [
            {
                "IndexName": gsi,
                "KeySchema": _key_schema(f"{gsi}PK", f"{gsi}SK"),
                "Projection": {"ProjectionType": "ALL"},
            }
            for gsi in GSIS
        ],
    }


def _key_schema(hash_key: str, range_key: str) -> list[dict[str, str]]:
    return [
        {"AttributeName": hash_key, "KeyType": "HASH"},
        {"AttributeName": range_key, "KeyType": "RANGE"},
    ]


def schema_problem(description: dict[str, Any]) -> str:
    """What makes an existing table unusable as this store ("" when it fits)."""
    keys = {k["AttributeName"]: k["KeyType"] for k in description.get("KeySchema", [])}
    if keys != {"PK": "HASH", "SK": "RANGE"}:
        return "its key must be PK (string, hash) and SK (string, range)"
    indexes = {i["IndexName"] for i in description.get("GlobalSecondaryIndexes", [])}
    missing = [gsi for gsi in GSIS if gsi not in indexes]
    if missing:
        return f"it lacks the global secondary index(es) {', '.join(missing)}"
    return ""


def key(pk: str, sk: str) -> Item:
    return {"PK": s(pk), "SK": s(sk)}


def sort_time(micros: int) -> str:
    """A time as a sort-key string: zero-padded so that string order is time order."""
    return f"{micros:020d}"


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def get_s(item: Item, name: str, default: str = "") -> str:
    value = item.get(name)
    return str(value["S"]) if value else default


def get_n(item: Item, name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value else None


# runs


def run_key(run_id: str) -> Item:
    return key(f"RUN#{run_id}", "RUN")


def run_item(rec: RunRecord) -> Item:
    started = us(rec.started_at)
    item: Item = {
        **run_key(rec.run_id),
        "GSI1PK": s(f"CHANNEL#{rec.channel}"),
        "GSI1SK": s(f"{sort_time(started)}#{rec.run_id}"),
        "run_id": s(rec.run_id),
        "channel": s(rec.channel),
        "user": s(rec.user),
        "playbook": s(rec.playbook),
        "params": s(json.dumps(rec.params, sort_keys=True)),
        "source": s(str(rec.source)),
        "started_at": n(started),
        "outcome": s(str(rec.outcome)),
        "step_statuses": s(json.dumps(rec.step_statuses)),
        "message_ts": s(rec.message_ts),
        "thread_ts": s(rec.thread_ts),
    }
    finished = opt_us(rec.finished_at)
    if finished is not None:
        item["finished_at"] = n(finished)
    return item


def run_from_item(item: Item) -> RunRecord:
    return RunRecord(
        run_id=get_s(item, "run_id"),
        channel=get_s(item, "channel"),
        user=get_s(item, "user"),
        playbook=get_s(item, "playbook"),
        params=json.loads(get_s(item, "params", "{}")),
        source=get_s(item, "source"),
        started_at=dt(get_n(item, "started_at") or 0),
        finished_at=opt_dt(get_n(item, "finished_at")),
        outcome=get_s(item, "outcome"),
        step_statuses=json.loads(get_s(item, "step_statuses", "{}")),
        message_ts=get_s(item, "message_ts"),
        thread_ts=get_s(item, "thread_ts"),
    )


def output_key(run_id: str) -> Item:
    return key(f"OUTPUT#{run_id}", "OUTPUT")


def pack_output(output: str) -> bytes:
    """The output, zlib-compressed; cut (with a note saying so) to fit in one item."""
    packed = zlib.compress(output.encode())
    keep = len(output)
    while len(packed) > MAX_OUTPUT_BYTES:
        keep = keep * MAX_OUTPUT_BYTES // len(packed) * 9 // 10
        note = f"\n… (cut: {len(output) - keep} more characters did not fit in the store)"
        packed = zlib.compress((output[:keep] + note).encode())
    return packed


def unpack_output(packed: bytes) -> str:
    return zlib.decompress(packed).decode()


# inbox


def inbox_key(message_id: str) -> Item:
    return key(f"INBOX#{message_id}", "INBOX")


def health_key(owner: str) -> Item:
    return key(f"HEALTH#{owner}", "HEALTH")


def inbox_item(item: InboxItem) -> Item:
    received = us(item.received_at)
    return {
        **inbox_key(item.message_id),
        "GSI1PK": s(UNFINISHED),
        "GSI1SK": s(f"{sort_time(received)}#{item.message_id}"),
        "message_id": s(item.message_id),
        "source": s(item.source),
        "body": s(item.body),
        "received_at": n(received),
        "status": s(item.status),
        "attempts": n(item.attempts),
        "owner": s(item.owner),
        "error": s(item.error),
    }


def inbox_from_item(item: Item) -> InboxItem:
    return InboxItem(
        message_id=get_s(item, "message_id"),
        source=get_s(item, "source"),
        body=get_s(item, "body"),
        received_at=dt(get_n(item, "received_at") or 0),
        status=get_s(item, "status"),
        attempts=get_n(item, "attempts") or 0,
        owner=get_s(item, "owner"),
        lease_until=opt_dt(get_n(item, "lease_until")),
        error=get_s(item, "error"),
    )


# incidents


def incident_pk(incident_key: str) -> str:
    return f"INCIDENT#{incident_key}"


def incident_sk(opened_us: int) -> str:
    return f"AT#{sort_time(opened_us)}"


def open_pointer_key(incident_key: str) -> Item:
    return key(incident_pk(incident_key), OPEN)


def incident_item(incident: Incident) -> Item:
    opened = us(incident.opened_at)
    item: Item = {
        **key(incident_pk(incident.key), incident_sk(opened)),
        "GSI1PK": s(f"ROUTE#{incident.route}"),
        "GSI1SK": s(f"{sort_time(opened)}#{incident.key}"),
    }
    if incident.root_ts:
        item["GSI2PK"] = s(f"ROOT#{incident.channel}#{incident.root_ts}")
        item["GSI2SK"] = s(sort_time(opened))
    for name in _INCIDENT_FIELDS:
        value = getattr(incident, name)
        if name in _INCIDENT_TIMES:
            micros = opt_us(value)
            if micros is not None:
                item[name] = n(micros)
        elif name in _INCIDENT_INTS:
            item[name] = n(int(value))
        else:
            item[name] = s(str(value))
    return item


def incident_from_item(item: Item) -> Incident:
    values: dict[str, Any] = {}
    for name in _INCIDENT_FIELDS:
        if name in _INCIDENT_TIMES:
            values[name] = opt_dt(get_n(item, name))
        elif name in _INCIDENT_INTS:
            values[name] = get_n(item, name) or 0
        else:
            values[name] = get_s(item, name)
    return Incident(**values)
