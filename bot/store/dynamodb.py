"""The store for several replicas: one DynamoDB table shared by every process.

Every "only once" of the ``Store`` contract is a DynamoDB condition, so it holds between any
number of replicas: a new inbox message or once-only claim is a put with
``attribute_not_exists(PK)``; an inbox claim or a lease is a write conditioned on its status,
owner and lease time; an incident update is a compare-and-set on ``version``; a schedule
compare-and-set is a put conditioned on the stored value. "At most one open incident per key"
is an *open pointer* item, written and removed in the same transaction as the incident. The
item layout is in ``bot/store/dynamodb_schema.py``.

Calls go through ``AwsClients`` (off the event loop, botocore standard retries). Because a
retried request may find its own earlier, applied attempt, single-item conditional writes carry
a fresh ``write_token`` and recognise themselves in the item returned with the failed condition;
transactions rely on their idempotency token instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from bot.aws import AwsClients
from bot.errors import ConfigError, StepError
from bot.store.base import InboxItem, Incident, RunRecord, StoreUnavailable
from bot.store.dynamodb_retention import inbox_purge, purge_at, time_to_live
from bot.store.dynamodb_schema import (
    FAILED,
    UNFINISHED,
    Item,
    get_n,
    get_s,
    health_key,
    inbox_from_item,
    inbox_item,
    inbox_key,
    incident_from_item,
    incident_item,
    incident_pk,
    incident_sk,
    key,
    n,
    open_pointer_key,
    output_key,
    pack_output,
    run_from_item,
    run_item,
    run_key,
    s,
    schema_problem,
    sort_time,
    table_definition,
    unpack_output,
    us,
)
from bot.store.retention import Retention

log = logging.getLogger(__name__)

TOKEN = "write_token"
_CONFLICT_ATTEMPTS = 8


def _client_error(exc: StepError) -> ClientError | None:
    """botocore's error behind ``exc``, for the parts of DynamoDB's answer beyond its code."""
    cause = exc.__cause__
    return cause if isinstance(cause, ClientError) else None


def _active(table: dict[str, Any]) -> bool:
    indexes = table.get("GlobalSecondaryIndexes", [])
    return table.get("TableStatus") == "ACTIVE" and all(
        index.get("IndexStatus") == "ACTIVE" for index in indexes
    )


class DynamoDbStore:
    """``Store`` on one DynamoDB table; the table is created on first start if it is missing."""

    def __init__(
        self,
        aws: AwsClients,
        table: str,
        *,
        owns_aws: bool = False,
        ready_timeout: timedelta = timedelta(minutes=5),
        poll_every: timedelta = timedelta(seconds=2),
        owner: str = "",
        retention: Retention | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``owner`` names this process's health item (default ``hostname:pid``); items carry
        the time TTL deletes them (``retention``; ``clock`` dates run outputs)."""
        self.table = table
        self._retention = retention or Retention()
        self._keep = self._retention.keep
        self._clock = clock
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._aws = aws
        self._target = aws.target()
        self._owns_aws = owns_aws  # close the clients with the store
        self._ready_timeout = ready_timeout
        self._poll_every = poll_every
        self._closed = False

    # plumbing

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        if self._closed:
            raise RuntimeError(f"the DynamoDB store {self.table} is closed")
        return await self._aws.call("dynamodb", method, self._target, **kwargs)

    async def _get(self, item_key: Item) -> Item | None:
        response = await self._call(
            "get_item", TableName=self.table, Key=item_key, ConsistentRead=True
        )
        item: Item | None = response.get("Item")
        return item

    async def _query(self, **kwargs: Any) -> list[Item]:
        """Every item a query finds, following its pages."""
        items: list[Item] = []
        args: dict[str, Any] = {"TableName": self.table, **kwargs}
        limit = kwargs.get("Limit")
        while True:
            page = await self._call("query", **args)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                return items
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def _write_if(self, method: str, token: str | None = None, **kwargs: Any) -> bool:
        """A conditional PutItem / UpdateItem / DeleteItem; False when the condition fails.

        With ``token`` (stored in the item as ``write_token`` by the caller), a failure caused
        by this very write — applied by an attempt whose answer was lost, then retried — is
        recognised and counts as success.
        """
        if token is not None:
            kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        for attempt in range(_CONFLICT_ATTEMPTS):
            try:
                await self._call(method, TableName=self.table, **kwargs)
            except StepError as exc:
                code = exc.aws_code
                if code == "TransactionConflictException" and attempt + 1 < _CONFLICT_ATTEMPTS:
                    await asyncio.sleep(0.02 * 2**attempt)  # a transaction holds the item
                    continue
                if code != "ConditionalCheckFailedException":
                    raise
                error = _client_error(exc)
                found = error.response.get("Item") if error else None
                old: Item = found if isinstance(found, dict) else {}
                return token is not None and get_s(old, TOKEN) == token
            return True
        raise AssertionError("unreachable")  # pragma: no cover

    async def _transact(self, *actions: dict[str, Any]) -> bool:
        """TransactWriteItems: all or nothing; False when one of its conditions fails.

        A transaction cancelled only because another one touched the same items is retried.
        """
        for attempt in range(_CONFLICT_ATTEMPTS):
            try:
                await self._call("transact_write_items", TransactItems=list(actions))
            except StepError as exc:
                error = _client_error(exc)
                if error is None or exc.aws_code != "TransactionCanceledException":
                    raise
                reasons = {r.get("Code") for r in error.response.get("CancellationReasons", [])}
                if "ConditionalCheckFailed" in reasons:
                    return False
                if "TransactionConflict" not in reasons or attempt + 1 == _CONFLICT_ATTEMPTS:
                    raise
                await asyncio.sleep(0.02 * 2**attempt)
                continue
            return True
        raise AssertionError("unreachable")  # pragma: no cover

    def _put(self, item: Item, condition: str, values: Item | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": item}
        put["ConditionExpression"] = condition
        if values:
            put["ExpressionAttributeValues"] = values
        return {"Put": put}

    # lifecycle

    async def start(self) -> None:
        try:
            await self._ensure_table()
        except StepError as exc:
            raise ConfigError(
                f"cannot open the DynamoDB store {self.table}: {exc.user_message}"
            ) from exc

    async def _describe(self) -> dict[str, Any] | None:
        try:
            response = await self._call("describe_table", TableName=self.table)
        except StepError as exc:
            if exc.aws_code == "ResourceNotFoundException":
                return None
            raise
        table: dict[str, Any] = response["Table"]
        return table

    async def _ensure_table(self) -> None:
        table = await self._describe()
        created = False
        if table is None:
            try:
                await self._call("create_table", **table_definition(self.table))
                created = True
                log.info("created the DynamoDB table %s for the store", self.table)
            except StepError as exc:
                if exc.aws_code != "ResourceInUseException":  # another replica is creating it
                    raise
            table = await self._describe()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ready_timeout.total_seconds()
        while table is None or not _active(table):
            if loop.time() > deadline:
                raise ConfigError(
                    f"the DynamoDB table {self.table} is not ACTIVE after "
                    f"{self._ready_timeout.total_seconds():.0f} s"
                )
            await asyncio.sleep(self._poll_every.total_seconds())
            table = await self._describe()
        problem = schema_problem(table)
        if problem:
            raise ConfigError(
                f"the DynamoDB table {self.table} cannot hold triagebot's state: {problem}. "
                "Name a table that does not exist yet in [store] url; triagebot creates it."
            )
        if created:  # TTL deletes what is older than the retention (once the table is ACTIVE)
            await self._call("update_time_to_live", **time_to_live(self.table))

    async def check_writable(self) -> None:
        """A conditional put of this process's health item, as every conditional write is."""
        try:
            await self._call(
                "put_item",
                TableName=self.table,
                Item={
                    **health_key(self._owner),
                    "owner": s(self._owner),
                    "checked_at": n(time.time_ns() // 1000),
                    **purge_at(self._clock(), self._keep),
                },
                ConditionExpression="attribute_not_exists(PK) OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": s(self._owner)},
            )
        except (RuntimeError, StepError) as exc:
            problem = exc.user_message if isinstance(exc, StepError) else str(exc)
            raise StoreUnavailable(
                f"the DynamoDB store {self.table} cannot be written: {problem}"
            ) from exc

    async def healthy(self) -> bool:
        try:
            await self.check_writable()
        except StoreUnavailable:
            return False
        return True

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_aws:
            self._aws.close()

    # runs

    async def record_run(self, rec: RunRecord) -> None:
        item = {**run_item(rec), **purge_at(rec.started_at, self._keep)}
        await self._call("put_item", TableName=self.table, Item=item)

    async def finish_run(
        self,
        run_id: str,
        finished_at: datetime,
        outcome: str,
        step_statuses: dict[str, str],
    ) -> bool:
        return await self._write_if(
            "update_item",
            Key=run_key(run_id),
            UpdateExpression="SET finished_at = :f, outcome = :o, step_statuses = :s",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={
                ":f": n(us(finished_at)),
                ":o": s(str(outcome)),
                ":s": s(json.dumps(step_statuses)),
            },
        )

    async def get_run(self, run_id: str) -> RunRecord | None:
        item = await self._get(run_key(run_id))
        return run_from_item(item) if item else None

    async def recent_runs(self, channel: str, limit: int) -> list[RunRecord]:
        if limit <= 0:
            return []
        items = await self._query(
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": s(f"CHANNEL#{channel}")},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [run_from_item(item) for item in items[:limit]]

    async def save_output(self, run_id: str, output: str) -> None:
        item = {
            **output_key(run_id),
            "output": {"B": pack_output(output)},
            **purge_at(self._clock(), self._keep),
        }
        await self._call("put_item", TableName=self.table, Item=item)

    async def run_output(self, run_id: str) -> str | None:
        item = await self._get(output_key(run_id))
        return unpack_output(item["output"]["B"]) if item else None

    # inbox

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
        token = uuid.uuid4().hex
        return await self._write_if(
            "update_item",
            token,
            Key=inbox_key(message_id),
            UpdateExpression="SET #status = :processing, #owner = :owner, lease_until = :until,"
            f" attempts = attempts + :one, {TOKEN} = :token",
            ConditionExpression="#status = :pending"
            " OR (#status = :processing AND lease_until <= :now)",
            ExpressionAttributeNames={"#status": "status", "#owner": "owner"},
            ExpressionAttributeValues={
                ":processing": s("processing"),
                ":pending": s("pending"),
                ":owner": s(owner),
                ":until": n(us(now + lease)),
                ":now": n(us(now)),
                ":one": n(1),
                ":token": s(token),
            },
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

    async def inbox_unfinished(self, now: datetime) -> list[InboxItem]:
        items = await self._query(
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            FilterExpression="#status = :pending"
            " OR (#status = :processing AND lease_until <= :now)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":pk": s(UNFINISHED),
                ":pending": s("pending"),
                ":processing": s("processing"),
                ":now": n(us(now)),
            },
        )
        return [inbox_from_item(item) for item in items]

    # incidents

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

    async def incidents_opened_since(self, route: str, since: datetime) -> int:
        args: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK >= :since",
            "ExpressionAttributeValues": {
                ":pk": s(f"ROUTE#{route}"),
                ":since": s(sort_time(us(since))),
            },
            "Select": "COUNT",
        }
        count = 0
        while True:
            page = await self._call("query", **args)
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return count
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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

    # schedule state, leases, once-only claims

    async def lease_acquire(self, name: str, owner: str, ttl: timedelta, now: datetime) -> bool:
        item = {
            **key(f"LEASE#{name}", "LEASE"),
            "owner": s(owner),
            "expires_at": n(us(now + ttl)),
            **purge_at(now + ttl, self._keep),
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
