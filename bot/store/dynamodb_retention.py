"""Retention on DynamoDB: TTL deletes the items, no pruner runs.

The table has Time to Live on ``purge_at`` (``UpdateTimeToLive`` when the store creates it;
``TimeToLiveSpecification`` in ``deploy/cloudformation*.yaml``). Each item that should go
carries ``purge_at``, in epoch *seconds* as TTL requires (every other time in the table is in
microseconds; leases already have an ``expires_at`` of their own, in microseconds, which is
why this attribute has another name). DynamoDB deletes an item within a few days after that
time; until then it may still be read, which does no harm: a late deletion only keeps a
MessageId deduping a little longer.

======================  ==================================================================
item                    ``purge_at``
======================  ==================================================================
inbox message           received + max(retention, dedupe window)
run                     started + retention
run output              saved + retention
incident                resolved + retention (an open incident, and its pointer, never)
lease (heartbeats too)  expiry + an hour (``EXPIRED_LEASE_KEEP``), whatever the retention
health                  last check + retention
outbox delivery         no longer relevant + retention
======================  ==================================================================

Body slimming (the SQLite store drops an old finished message's body and keeps its id) is
not done here: an item's storage is billed, not its file, and TTL removes it whole.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.store.retention import Retention

TTL_ATTRIBUTE = "purge_at"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_seconds(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(seconds=1)


def purge_at(when: datetime, keep: timedelta) -> dict[str, dict[str, str]]:
    """The attribute that has DynamoDB delete an item ``keep`` after ``when``."""
    return {TTL_ATTRIBUTE: {"N": str(epoch_seconds(when + keep))}}


def inbox_purge(received_at: datetime, retention: Retention) -> dict[str, dict[str, str]]:
    return purge_at(received_at, retention.inbox_keep)


def time_to_live(table: str) -> dict[str, Any]:
    """``UpdateTimeToLive`` arguments that switch TTL on for the store's table."""
    return {
        "TableName": table,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    }
