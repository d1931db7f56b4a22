"""Incidents on DynamoDB: at most one open incident per key through an *open pointer* item
written and removed in the same transaction; updates are compare-and-set on ``version``."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from bot.store.base import Incident
from bot.store.dynamodb_base import TOKEN, DynamoDbBase
from bot.store.dynamodb_retention import purge_at
from bot.store.dynamodb_schema import (
    Item,
    get_n,
    incident_from_item,
    incident_item,
    incident_pk,
    incident_sk,
    key,
    n,
    open_pointer_key,
    s,
    sort_time,
    us,
)


class DynamoDbIncidents(DynamoDbBase):
    """``incident_*`` of the ``Store`` protocol."""

    async def incident_get(self, key_: str) -> Incident | None:
        pointer = await self._get(open_pointer_key(key_))
        if pointer is not None:
            opened = get_n(pointer, "opened_at") or 0
            item = await self._get(key(incident_pk(key_), incident_sk(opened)))
            if item is not None:
                return incident_from_item(item)
        latest = await self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :at)",
            ExpressionAttributeValues={":pk": s(incident_pk(key_)), ":at": s("AT#")},
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=1,
        )
        return incident_from_item(latest[0]) if latest else None

    def _incident_item(self, incident: Incident) -> Item:
        """The incident's item; a resolved one goes a retention after it was resolved."""
        item = incident_item(incident)
        if incident.resolved_at is not None:
            item.update(purge_at(incident.resolved_at, self._keep))
        return item

    async def incident_create(self, incident: Incident) -> bool:
        item = self._incident_item(incident)
        absent = "attribute_not_exists(PK)"
        if not incident.is_open:
            token = uuid.uuid4().hex
            return await self._write_if(
                "put_item", token, Item={**item, TOKEN: s(token)}, ConditionExpression=absent
            )
        pointer = {**open_pointer_key(incident.key), "opened_at": n(us(incident.opened_at))}
        return await self._transact(self._put(item, absent), self._put(pointer, absent))

    async def incident_update(self, incident: Incident, expected_version: int) -> bool:
        opened = us(incident.opened_at)
        stored = await self._get(key(incident_pk(incident.key), incident_sk(opened)))
        if stored is None or get_n(stored, "version") != expected_version:
            return False
        # The stored item cannot change without its version changing, so whether it is open
        # is known here; the condition below makes sure it still is what was read.
        was_open = "resolved_at" not in stored
        item = self._incident_item(replace(incident, version=expected_version + 1))
        cas = "version = :expected"
        expected = {":expected": n(expected_version)}
        if was_open == incident.is_open:
            token = uuid.uuid4().hex
            return await self._write_if(
                "put_item",
                token,
                Item={**item, TOKEN: s(token)},
                ConditionExpression=cas,
                ExpressionAttributeValues=expected,
            )
        pointer_key = open_pointer_key(incident.key)
        if incident.is_open:  # reopening: only while no other incident of this key is open
            pointer = self._put({**pointer_key, "opened_at": n(opened)}, "attribute_not_exists(PK)")
        else:
            pointer = {
                "Delete": {
                    "TableName": self.table,
                    "Key": pointer_key,
                    "ConditionExpression": "opened_at = :opened",
                    "ExpressionAttributeValues": {":opened": n(opened)},
                }
            }
        return await self._transact(self._put(item, cas, expected), pointer)

    async def incidents_of(self, key_: str, since: datetime, limit: int) -> list[Incident]:
        items = await self._query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :since AND :last",
            ExpressionAttributeValues={
                ":pk": s(incident_pk(key_)),
                ":since": s(incident_sk(us(since))),
                ":last": s("AT#~"),  # after every zero-padded time
            },
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=limit,
        )
        return [incident_from_item(item) for item in items[:limit]]

    async def incidents_of_route(self, route: str, since: datetime, limit: int) -> list[Incident]:
        items = await self._query(
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk AND GSI1SK >= :since",
            ExpressionAttributeValues={
                ":pk": s(f"ROUTE#{route}"),
                ":since": s(sort_time(us(since))),
            },
            ScanIndexForward=False,
            Limit=limit,
        )
        return [incident_from_item(item) for item in items[:limit]]

    async def incident_find_by_root(self, channel: str, ts: str) -> Incident | None:
        if not ts:
            return None
        items = await self._query(
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :pk",
            ExpressionAttributeValues={":pk": s(f"ROOT#{channel}#{ts}")},
            ScanIndexForward=False,
            Limit=1,
        )
        return incident_from_item(items[0]) if items else None
