"""Run history on DynamoDB: run items (by channel in GSI1) and their compressed outputs."""

from __future__ import annotations

import json
from datetime import datetime

from bot.store.base import RunRecord
from bot.store.dynamodb_base import DynamoDbBase
from bot.store.dynamodb_retention import purge_at
from bot.store.dynamodb_schema import (
    n,
    output_key,
    pack_output,
    run_from_item,
    run_item,
    run_key,
    s,
    unpack_output,
    us,
)


class DynamoDbRuns(DynamoDbBase):
    """``record_run`` … ``run_output`` of the ``Store`` protocol."""

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
