"""The store for several replicas: one DynamoDB table shared by every process.

Every "only once" of the ``Store`` contract is a DynamoDB condition, so it holds between any
number of replicas: a new inbox message or once-only claim is a put with
``attribute_not_exists(PK)``; an inbox claim or a lease is a write conditioned on its status,
owner and lease time; an incident update is a compare-and-set on ``version``; a schedule
compare-and-set is a put conditioned on the stored value. "At most one open incident per key"
is an *open pointer* item, written and removed in the same transaction as the incident. The
item layout is in ``bot/store/dynamodb_schema.py``.

The plumbing (calls, conditional writes, the table's creation) is ``bot.store.dynamodb_base``;
each capability of the protocol is a module of its own.
"""

from __future__ import annotations

from bot.store.dynamodb_coordination import DynamoDbCoordination
from bot.store.dynamodb_inbox import DynamoDbInbox
from bot.store.dynamodb_incidents import DynamoDbIncidents
from bot.store.dynamodb_outbox import DynamoDbOutbox
from bot.store.dynamodb_runs import DynamoDbRuns


class DynamoDbStore(
    DynamoDbRuns, DynamoDbInbox, DynamoDbOutbox, DynamoDbIncidents, DynamoDbCoordination
):
    """``Store`` on one DynamoDB table; the table is created on first start if it is missing."""
