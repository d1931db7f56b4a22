"""The DynamoDB store's plumbing: calls, conditional writes, transactions, the table's
creation and lifecycle.

Calls go through ``AwsClients`` (off the event loop, botocore standard retries). Because a
retried request may find its own earlier, applied attempt, single-item conditional writes carry
a fresh ``write_token`` (``TOKEN``) and recognise themselves in the item returned with the
failed condition; transactions rely on their idempotency token instead. The capabilities of
the ``Store`` protocol build on this: ``dynamodb_runs``, ``dynamodb_inbox``,
``dynamodb_incidents``, ``dynamodb_coordination``; ``bot.store.dynamodb`` puts them together.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from bot.aws import AwsClients
from bot.errors import ConfigError, StepError
from bot.store.base import StoreUnavailable
from bot.store.dynamodb_retention import purge_at, time_to_live
from bot.store.dynamodb_schema import (
    Item,
    get_s,
    health_key,
    n,
    s,
    schema_problem,
    table_definition,
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


class DynamoDbBase:
    """One DynamoDB table, its calls and lifecycle; the table is created on first start if it
    is missing."""

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

    async def _claim(
        self,
        item_key: Item,
        owner: str,
        lease: timedelta,
        now: datetime,
        *,
        claimable: str,
        also_set: str = "",
        names: dict[str, str],
        values: Item,
    ) -> bool:
        """Take the item under a lease for ``owner`` (an inbox message, an outbox delivery):
        set its owner, ``lease_until`` and one more attempt where ``claimable`` holds
        (``:now`` is the claim's time in it); ``also_set`` adds assignments of the caller's."""
        token = uuid.uuid4().hex
        extra = f"{also_set}, " if also_set else ""
        return await self._write_if(
            "update_item",
            token,
            Key=item_key,
            UpdateExpression=f"SET {extra}#owner = :owner, lease_until = :until,"
            f" attempts = attempts + :one, {TOKEN} = :token",
            ConditionExpression=claimable,
            ExpressionAttributeNames={**names, "#owner": "owner"},
            ExpressionAttributeValues={
                **values,
                ":owner": s(owner),
                ":until": n(us(now + lease)),
                ":now": n(us(now)),
                ":one": n(1),
                ":token": s(token),
            },
        )

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
