"""The alarm inbox on DynamoDB: a put with ``attribute_not_exists(PK)`` records a message
once; claims are updates conditioned on status and lease; unfinished and failed messages are
found through GSI1."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from bot.errors import StepError
from bot.store.base import InboxItem, StoreUnavailable
from bot.store.dynamodb_base import TOKEN, DynamoDbBase
from bot.store.dynamodb_retention import inbox_purge
from bot.store.dynamodb_schema import (
    FAILED,
    UNFINISHED,
    inbox_from_item,
    inbox_item,
    inbox_key,
    n,
    s,
    us,
)


class DynamoDbInbox(DynamoDbBase):
    """``inbox_*`` of the ``Store`` protocol."""

    async def inbox_add(
        self, message_id: str, source: str, body: str, received_at: datetime
    ) -> bool:
        token = uuid.uuid4().hex
        item = inbox_item(InboxItem(message_id, source, body, received_at))  # validates source
        item.update(inbox_purge(received_at, self._retention))
        try:
            return await self._write_if(
                "put_item",
                token,
                Item={**item, TOKEN: s(token)},
                ConditionExpression="attribute_not_exists(PK)",
            )
        except (RuntimeError, StepError) as exc:  # the sender must hear "not recorded"
            problem = exc.user_message if isinstance(exc, StepError) else str(exc)
            raise StoreUnavailable(
                f"the DynamoDB store {self.table} did not record the message: {problem}"
            ) from exc

    async def inbox_get(self, message_id: str) -> InboxItem | None:
        item = await self._get(inbox_key(message_id))
        return inbox_from_item(item) if item else None

    async def inbox_claim(
        self, message_id: str, owner: str, lease: timedelta, now: datetime
    ) -> bool:
        return await self._claim(
            inbox_key(message_id),
            owner,
            lease,
            now,
            claimable="#status = :pending OR (#status = :processing AND lease_until <= :now)",
            also_set="#status = :processing",
            names={"#status": "status"},
            values={":processing": s("processing"), ":pending": s("pending")},
        )

    async def inbox_done(self, message_id: str) -> None:
        await self._finish_message(message_id, "done", "")

    async def inbox_failed(self, message_id: str, error: str) -> None:
        await self._finish_message(message_id, "failed", error)

    async def _finish_message(self, message_id: str, status: str, error: str) -> None:
        """Done or failed: out of the unfinished index (a failed one into the failed part of
        it, to be counted); nothing happens to an unknown id."""
        values = {":status": s(status), ":error": s(error)}
        if status == "failed":
            update = "SET #status = :status, #error = :error, GSI1PK = :failed REMOVE lease_until"
            values[":failed"] = s(FAILED)
        else:
            update = "SET #status = :status, #error = :error REMOVE lease_until, GSI1PK, GSI1SK"
        await self._write_if(
            "update_item",
            Key=inbox_key(message_id),
            UpdateExpression=update,
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeNames={"#status": "status", "#error": "error"},
            ExpressionAttributeValues=values,
        )

    async def inbox_failed_count(self) -> int:
        args: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": s(FAILED)},
            "Select": "COUNT",
        }
        count = 0
        while True:
            page = await self._call("query", **args)
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return count
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def inbox_unfinished(self, now: datetime | None = None) -> list[InboxItem]:
        values = {":pk": s(UNFINISHED), ":pending": s("pending"), ":processing": s("processing")}
        claims = "#status = :processing"
        if now is not None:
            claims += " AND lease_until <= :now"
            values[":now"] = n(us(now))
        items = await self._query(
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            FilterExpression=f"#status = :pending OR ({claims})",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
        return [inbox_from_item(item) for item in items]
