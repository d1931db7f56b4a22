"""Coordination on DynamoDB: leases, schedule state and its compare-and-set, once-only claims,
each a conditional write."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from bot.store.dynamodb_base import TOKEN, DynamoDbBase
from bot.store.dynamodb_retention import purge_at
from bot.store.dynamodb_schema import (
    get_s,
    key,
    n,
    s,
    us,
)
from bot.store.retention import EXPIRED_LEASE_KEEP


class DynamoDbCoordination(DynamoDbBase):
    """``lease_*``, ``schedule_*`` and ``claim_once`` of the ``Store`` protocol."""

    async def lease_acquire(self, name: str, owner: str, ttl: timedelta, now: datetime) -> bool:
        item = {
            **key(f"LEASE#{name}", "LEASE"),
            "owner": s(owner),
            "expires_at": n(us(now + ttl)),
            **purge_at(now + ttl, EXPIRED_LEASE_KEEP),  # gone once it ran out (by an hour)
        }
        return await self._write_if(
            "put_item",
            Item=item,
            ConditionExpression="attribute_not_exists(PK) OR expires_at <= :now OR #owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":now": n(us(now)), ":owner": s(owner)},
        )

    async def lease_release(self, name: str, owner: str) -> None:
        await self._write_if(
            "delete_item",
            Key=key(f"LEASE#{name}", "LEASE"),
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": s(owner)},
        )

    async def schedule_get(self, job: str) -> str | None:
        item = await self._get(key(f"SCHEDULE#{job}", "SCHEDULE"))
        return get_s(item, "value") if item else None

    async def schedule_set(self, job: str, value: str) -> None:
        item = {**key(f"SCHEDULE#{job}", "SCHEDULE"), "value": s(value)}
        await self._call("put_item", TableName=self.table, Item=item)

    async def schedule_cas(self, job: str, expected: str | None, value: str) -> bool:
        token = uuid.uuid4().hex
        item = {**key(f"SCHEDULE#{job}", "SCHEDULE"), "value": s(value), TOKEN: s(token)}
        if expected is None:
            return await self._write_if(
                "put_item", token, Item=item, ConditionExpression="attribute_not_exists(PK)"
            )
        return await self._write_if(
            "put_item",
            token,
            Item=item,
            ConditionExpression="#value = :expected",
            ExpressionAttributeNames={"#value": "value"},  # a reserved word in expressions
            ExpressionAttributeValues={":expected": s(expected)},
        )

    async def claim_once(self, key_: str, owner: str, now: datetime) -> bool:
        token = uuid.uuid4().hex
        item = {
            **key(f"CLAIM#{key_}", "CLAIM"),
            "owner": s(owner),
            "claimed_at": n(us(now)),
            TOKEN: s(token),
        }
        return await self._write_if(
            "put_item", token, Item=item, ConditionExpression="attribute_not_exists(PK)"
        )
