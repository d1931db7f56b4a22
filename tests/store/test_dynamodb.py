"""What only the DynamoDB store does: its table, replicas over HTTP, lost answers, IAM.

The behaviour every store shares is checked in ``test_contract.py`` (moto in-process).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session

from bot.config import AwsSettings, Settings, StoreSettings
from bot.errors import ConfigError
from bot.iam_policy import build_policy
from bot.steps import default_registry
from bot.store import DynamoDbStore, open_store
from tests.store.helpers import T0, TABLE, dynamodb_store, incident

pytestmark = pytest.mark.usefixtures("atomic_dynamodb")


@pytest.fixture
async def store(session: boto3.Session) -> AsyncIterator[DynamoDbStore]:
    s = dynamodb_store(session)
    await s.start()
    yield s
    await s.close()


# --- the table -------------------------------------------------------------------------------


async def test_first_start_creates_an_on_demand_table_with_its_indexes(
    session: boto3.Session,
) -> None:
    dynamodb = session.client("dynamodb")
    assert TABLE not in dynamodb.list_tables()["TableNames"]
    s = dynamodb_store(session)
    await s.start()
    await s.start()  # safe to call again
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "PK": "HASH",
        "SK": "RANGE",
    }
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2"}
    assert await s.healthy()
    await s.close()


async def test_a_second_replica_starts_on_the_existing_table(
    store: DynamoDbStore, session: boto3.Session
) -> None:
    await store.inbox_add("m1", "sns", "{}", T0)
    replica = dynamodb_store(session)
    await replica.start()
    assert not await replica.inbox_add("m1", "sqs", "{}", T0)
    await replica.close()


async def test_a_table_with_another_key_is_refused_with_a_clear_error(
    session: boto3.Session,
) -> None:
    session.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    s = dynamodb_store(session)
    with pytest.raises(ConfigError, match="cannot hold triagebot's state: its key must be PK"):
        await s.start()
    await s.close()


async def test_healthy_is_false_once_the_table_is_gone(
    store: DynamoDbStore, session: boto3.Session
) -> None:
    assert await store.healthy()
    session.client("dynamodb").delete_table(TableName=TABLE)
    assert not await store.healthy()


async def test_an_output_too_large_for_one_item_is_cut_with_a_note(store: DynamoDbStore) -> None:
    huge = os.urandom(2_000_000).hex()  # 4 MB that does not compress below DynamoDB's 400 KB
    await store.save_output("r1", huge)
    kept = await store.run_output("r1")
    assert kept is not None
    body, note = kept.rsplit("\n", 1)
    assert huge.startswith(body) and len(body) > 300_000
    assert note == f"… (cut: {len(huge) - len(body)} more characters did not fit in the store)"


# --- open_store ------------------------------------------------------------------------------


async def test_open_store_reads_the_table_from_the_url(aws: None) -> None:
    settings = Settings(store=StoreSettings(url=f"dynamodb://{TABLE}"))
    s = open_store(settings)
    assert isinstance(s, DynamoDbStore) and s.table == TABLE
    await s.start()
    assert await s.inbox_add("m1", "sns", "{}", T0)
    await s.close()
    assert TABLE in boto3.client("dynamodb").list_tables()["TableNames"]


@pytest.mark.parametrize("url", ["dynamodb://", "dynamodb://ab", "dynamodb://state/table"])
def test_open_store_refuses_a_bad_table_name(url: str) -> None:
    with pytest.raises(ConfigError, match="DynamoDB table name"):
        open_store(Settings(store=StoreSettings(url=url)))


# --- replicas over HTTP ----------------------------------------------------------------------


async def test_two_replicas_over_http_handle_each_message_exactly_once(moto_url: str) -> None:
    """Two replicas get every alarm (SNS to one, the SQS copy to the other); each is run once."""
    replicas = [dynamodb_store(endpoint_url=moto_url) for _ in range(2)]
    await asyncio.gather(*(r.start() for r in replicas))  # both create the table at once
    lease = timedelta(minutes=5)

    async def deliver(replica: DynamoDbStore, name: str, message_id: str) -> tuple[bool, bool]:
        added = await replica.inbox_add(message_id, "sns", "{}", T0)
        claimed = await replica.inbox_claim(message_id, name, lease, T0)
        if claimed:
            await replica.inbox_done(message_id)
        return added, claimed

    try:
        ids = [f"msg-{i:02d}" for i in range(50)]
        results = await asyncio.gather(
            *(deliver(r, f"replica-{j}", mid) for mid in ids for j, r in enumerate(replicas))
        )
        for i, mid in enumerate(ids):
            pair = results[2 * i : 2 * i + 2]
            assert [added for added, _ in pair].count(True) == 1, mid
            assert [claimed for _, claimed in pair].count(True) == 1, mid
        for mid in ids:
            item = await replicas[0].inbox_get(mid)
            assert item is not None and (item.status, item.attempts) == ("done", 1), mid
        assert await replicas[1].inbox_unfinished(T0 + timedelta(hours=1)) == []
    finally:
        await asyncio.gather(*(r.close() for r in replicas))


# --- an answer lost after the write was applied ----------------------------------------------


class LoseFirstAnswer:
    """A botocore hook: sends the next request of an operation, then drops the connection.

    The write is applied but its answer never arrives; botocore retries it (standard mode), and
    the retry meets the write it made itself.
    """

    def __init__(self) -> None:
        self.armed = False
        self.lost = 0
        self._http = URLLib3Session()

    def __call__(self, request: AWSPreparedRequest, **kwargs: Any) -> None:
        if not self.armed:
            return
        self.armed = False
        self._http.send(request)
        self.lost += 1
        raise ConnectionClosedError(endpoint_url=request.url)


async def test_a_write_whose_answer_was_lost_still_counts_as_its_own(moto_url: str) -> None:
    session = boto3.Session(region_name="us-east-1")
    lose = LoseFirstAnswer()
    for operation in ("PutItem", "UpdateItem"):
        session.events.register(f"before-send.dynamodb.{operation}", lose)
    flaky = dynamodb_store(session, endpoint_url=moto_url)
    rival = dynamodb_store(endpoint_url=moto_url)
    await flaky.start()
    await rival.start()
    lease = timedelta(minutes=5)
    try:
        lose.armed = True
        assert await flaky.inbox_add("m1", "sns", "{}", T0)
        assert not await rival.inbox_add("m1", "sqs", "{}", T0)

        lose.armed = True
        assert await flaky.inbox_claim("m1", "flaky", lease, T0)
        assert not await rival.inbox_claim("m1", "rival", lease, T0)
        item = await rival.inbox_get("m1")
        assert item is not None and (item.owner, item.attempts) == ("flaky", 1)

        lose.armed = True
        assert await flaky.claim_once("digest:2026-11-20", "flaky", T0)
        assert not await rival.claim_once("digest:2026-11-20", "rival", T0)

        await flaky.incident_create(incident())
        lose.armed = True
        assert await flaky.incident_update(incident(acknowledged_by="U1"), expected_version=0)
        assert not await rival.incident_update(incident(acknowledged_by="U2"), expected_version=0)
        assert lose.lost == 4
    finally:
        await flaky.close()
        await rival.close()


# --- IAM -------------------------------------------------------------------------------------


def test_the_iam_policy_grants_the_state_table_only_for_a_dynamodb_store() -> None:
    dynamodb = Settings(
        store=StoreSettings(url=f"dynamodb://{TABLE}"), aws=AwsSettings(region="eu-west-1")
    )
    statements = {s["Sid"]: s for s in build_policy(dynamodb, [], default_registry())["Statement"]}
    table = statements["TriagebotStateTable"]
    arn = f"arn:aws:dynamodb:eu-west-1:*:table/{TABLE}"
    assert table["Resource"] == [arn, f"{arn}/index/*"]
    assert set(table["Action"]) == {
        f"dynamodb:{action}"
        for action in (
            "CreateTable",
            "DescribeTable",
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "UpdateTimeToLive",
        )
    }
    assert not any(a.startswith("dynamodb:") for a in statements["TriagebotReadOnly"]["Action"])

    sqlite = Settings(store=StoreSettings(url="sqlite:///state.db"))
    sids = {s["Sid"] for s in build_policy(sqlite, [], default_registry())["Statement"]}
    assert "TriagebotStateTable" not in sids
