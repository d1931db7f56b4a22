"""The Events API v2 client against the local stand-in over HTTP: what it sends, what it tries
again (a 5xx, a 429 after its Retry-After, no answer in time) and what it does not (a 400)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr

from bot.incidents.pagerduty import Event, EventsApi
from tests.support.pagerduty_api import FakeEventsApi

KEY = SecretStr("R0UT1NGKEY0123456789abcdef012345")
TRIGGER = Event(
    "trigger",
    "acct/us-east-1/db-cpu@2026-01-01T00:00:00+00:00",
    "db-cpu is ALARM",
    "triagebot",
    "https://fake-workspace.slack.com/archives/C1/p1",
)


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeEventsApi, EventsApi]]:
    fake = FakeEventsApi()
    url = await fake.start()
    client = EventsApi(
        url, KEY, timeout=timedelta(seconds=5), backoff=timedelta(milliseconds=10), attempts=4
    )
    yield fake, client
    await fake.stop()


async def test_a_trigger_carries_the_key_dedup_key_summary_source_and_link(
    api: tuple[FakeEventsApi, EventsApi],
) -> None:
    fake, client = api
    answer = await client.send(TRIGGER)
    assert (answer.ok, answer.status, answer.message, answer.attempts) == (
        True,
        202,
        "Event processed",
        1,
    )
    assert fake.accepted == [
        {
            "routing_key": KEY.get_secret_value(),
            "event_action": "trigger",
            "dedup_key": TRIGGER.dedup_key,
            "payload": {
                "summary": "db-cpu is ALARM",
                "source": "triagebot",
                "severity": "critical",
            },
            "links": [{"href": TRIGGER.link, "text": "Slack thread"}],
        }
    ]
    await client.send(Event("resolve", TRIGGER.dedup_key))
    assert fake.accepted[-1] == {
        "routing_key": KEY.get_secret_value(),
        "event_action": "resolve",
        "dedup_key": TRIGGER.dedup_key,
    }


async def test_server_errors_and_rate_limits_are_tried_again_until_taken(
    api: tuple[FakeEventsApi, EventsApi],
) -> None:
    fake, client = api
    fake.fail(500, times=2)
    fake.fail(429, times=1, retry_after=0.05)
    answer = await client.send(TRIGGER)
    assert (answer.ok, answer.attempts) == (True, 4)
    assert len(fake.received) == 4 and fake.actions() == ["trigger"]


async def test_a_refusal_is_permanent_at_once_and_tries_end(
    api: tuple[FakeEventsApi, EventsApi],
) -> None:
    fake, client = api
    fake.fail(400)
    refused = await client.send(TRIGGER)
    assert (refused.ok, refused.status, refused.attempts) == (False, 400, 1)
    assert refused.message.startswith("Event object is invalid: Length of 'routing_key'")

    fake = FakeEventsApi()
    fake.fail(503)
    url = await fake.start()
    try:
        down = EventsApi(
            url, KEY, timeout=timedelta(seconds=5), backoff=timedelta(milliseconds=5), attempts=3
        )
        gave_up = await down.send(TRIGGER)
    finally:
        await fake.stop()
    assert (gave_up.ok, gave_up.status, gave_up.attempts) == (False, 503, 3)
    assert len(fake.received) == 3


async def test_a_refused_connection_is_tried_again_then_given_up() -> None:
    closed = EventsApi(  # nothing listens on port 9 of loopback: the connection is refused
        "http://127.0.0.1:9/v2/enqueue",
        KEY,
        timeout=timedelta(seconds=5),
        backoff=timedelta(milliseconds=5),
        attempts=2,
    )
    answer = await closed.send(TRIGGER)
    assert (answer.ok, answer.status, answer.attempts) == (False, 0, 2)
    assert KEY.get_secret_value() not in answer.message
