"""The outbox on DynamoDB: a put with ``attribute_not_exists(PK)`` records a delivery once;
claims are updates conditioned on state, due time and lease; pending deliveries are found
through GSI1 (``OUTBOX#PENDING``, sorted by due time), which a delivery leaves once sent or
dropped. Each item carries ``purge_at`` (expiry + retention): TTL deletes it afterwards."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from bot.store.base import Delivery
from bot.store.dynamodb_base import TOKEN, DynamoDbBase
from bot.store.dynamodb_retention import purge_at
from bot.store.dynamodb_schema import (
    Item,
    dt,
    get_n,
    get_s,
    key,
    n,
    opt_dt,
    s,
    sort_time,
    us,
)

PENDING = "OUTBOX#PENDING"
_CLAIMABLE = (
    "#state = :pending AND due_at <= :now"
    " AND (attribute_not_exists(lease_until) OR lease_until <= :now)"
)


def outbox_key(delivery_id: str) -> Item:
    return key(f"OUTBOX#{delivery_id}", "OUTBOX")


def _due_key(due: datetime, delivery_id: str) -> dict[str, str]:
    return s(f"{sort_time(us(due))}#{delivery_id}")


class DynamoDbOutbox(DynamoDbBase):
    """``outbox_*`` of the ``Store`` protocol."""

    async def outbox_add(self, delivery: Delivery) -> bool:
        d = delivery
        token = uuid.uuid4().hex
        item: Item = {
            **outbox_key(d.delivery_id),
            "GSI1PK": s(PENDING),
            "GSI1SK": _due_key(d.due_at, d.delivery_id),
            "delivery_id": s(d.delivery_id),
            "channel": s(d.channel),
            "payload": s(d.payload),
            "created_at": n(us(d.created_at)),
            "due_at": n(us(d.due_at)),
            "expires_at": n(us(d.expires_at)),
            "thread_ts": s(d.thread_ts),
            "after": s(d.after),
            "state": s("pending"),
            "attempts": n(0),
            "owner": s(""),
            "ts": s(""),
            "error": s(""),
            TOKEN: s(token),
            **purge_at(d.expires_at, self._retention.keep),
        }
        return await self._write_if(
            "put_item", token, Item=item, ConditionExpression="attribute_not_exists(PK)"
        )

    async def outbox_get(self, delivery_id: str) -> Delivery | None:
        item = await self._get(outbox_key(delivery_id))
        return _delivery_from_item(item) if item else None

    async def outbox_claim(
        self, delivery_id: str, owner: str, lease: timedelta, now: datetime
    ) -> bool:
        return await self._claim(
            outbox_key(delivery_id),
            owner,
            lease,
            now,
            claimable=_CLAIMABLE,
            also_set="#error = :none",
            names={"#state": "state", "#error": "error"},
            values={":none": s(""), ":pending": s("pending")},
        )

    async def outbox_retry(self, delivery_id: str, due_at: datetime, error: str) -> None:
        await self._write_if(
            "update_item",
            Key=outbox_key(delivery_id),
            UpdateExpression="SET due_at = :due, GSI1SK = :sk, #error = :error REMOVE lease_until",
            ConditionExpression="#state = :pending",
            ExpressionAttributeNames={"#state": "state", "#error": "error"},
            ExpressionAttributeValues={
                ":due": n(us(due_at)),
                ":sk": _due_key(due_at, delivery_id),
                ":error": s(error),
                ":pending": s("pending"),
            },
        )

    async def outbox_sent(self, delivery_id: str, ts: str, sent_at: datetime) -> None:
        values = {":ts": s(ts), ":at": n(us(sent_at)), ":error": s("")}
        await self._finish(delivery_id, "sent", "ts = :ts, sent_at = :at", values)

    async def outbox_drop(self, delivery_id: str, error: str) -> None:
        await self._finish(delivery_id, "dropped", "", {":error": s(error)})

    async def _finish(self, delivery_id: str, state: str, sets: str, values: Item) -> None:
        """Sent or dropped: out of the pending index, never claimed again; a sent delivery
        stays sent (a late drop changes nothing), and an unknown id stays unknown."""
        condition = "attribute_exists(PK)" if state == "sent" else "#state = :pending"
        await self._write_if(
            "update_item",
            Key=outbox_key(delivery_id),
            UpdateExpression=f"SET #state = :state, #error = :error{', ' + sets if sets else ''}"
            " REMOVE lease_until, GSI1PK, GSI1SK",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#state": "state", "#error": "error"},
            ExpressionAttributeValues={
                ":state": s(state),
                **values,
                **({":pending": s("pending")} if state != "sent" else {}),
            },
        )

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        items = await self._query(
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            FilterExpression="#state = :pending",
            ProjectionExpression="created_at, #state",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":pk": s(PENDING), ":pending": s("pending")},
        )
        oldest = min((get_n(item, "created_at") or 0 for item in items), default=None)
        return len(items), (dt(oldest) if oldest is not None else None)

    async def outbox_due(self, now: datetime, limit: int) -> list[Delivery]:
        # The index is eventually consistent and holds no lease: each item is read again
        # (consistently) and claimed conditionally before anything is sent.
        items = await self._query(
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk AND GSI1SK <= :upto",
            FilterExpression=_CLAIMABLE,
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":pk": s(PENDING),
                ":upto": s(f"{sort_time(us(now))}#\uffff"),
                ":pending": s("pending"),
                ":now": n(us(now)),
            },
        )
        return [_delivery_from_item(item) for item in items[:limit]]


def _delivery_from_item(item: Item) -> Delivery:
    return Delivery(
        delivery_id=get_s(item, "delivery_id"),
        channel=get_s(item, "channel"),
        payload=get_s(item, "payload"),
        created_at=dt(get_n(item, "created_at") or 0),
        due_at=dt(get_n(item, "due_at") or 0),
        expires_at=dt(get_n(item, "expires_at") or 0),
        thread_ts=get_s(item, "thread_ts"),
        after=get_s(item, "after"),
        state=get_s(item, "state"),
        attempts=get_n(item, "attempts") or 0,
        owner=get_s(item, "owner"),
        lease_until=opt_dt(get_n(item, "lease_until")),
        ts=get_s(item, "ts"),
        sent_at=opt_dt(get_n(item, "sent_at")),
        error=get_s(item, "error"),
    )
