"""logs.insights and logs.filter against moto (query results faked only where moto can't)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.errors import StepError
from bot.results import Status, StepOutput
from bot.steps.base import StepContext, StepType, Target
from bot.steps.logs import filter_events, insights
from tests.support.aws_hooks import fake_operation

GROUP = "/aws/app/api"
QUERY = "fields @timestamp, @message | sort @timestamp desc | limit 3"


def _ctx(session: boto3.Session, now: datetime) -> StepContext:
    aws = AwsClients(AwsSettings(), session_factory=lambda: session)
    return StepContext(aws=aws, target=Target(region="us-east-1"), now=now)


async def _run(
    step_type: StepType[Any], session: boto3.Session, now: datetime | None = None, **params: Any
) -> StepOutput:
    ctx = _ctx(session, now or datetime.now(UTC))
    return await step_type.run(ctx, step_type.params.model_validate(params))


def _seed(session: boto3.Session, now: datetime) -> None:
    """Two streams; a line every minute for 10 minutes, every third an error."""
    logs = session.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    for stream, offset in (("web-1", 0), ("web-2", 30)):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        events = []
        for minute in range(10, 0, -1):
            at = now - timedelta(minutes=minute, seconds=offset)
            level = "ERROR upstream timed out" if minute % 3 == 0 else "INFO GET /health 200"
            events.append(
                {"timestamp": int(at.timestamp() * 1000), "message": f"{level} m={minute}\n"}
            )
        logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)


# --- logs.insights -----------------------------------------------------------------------------


async def test_insights_rows_become_a_table(session: boto3.Session) -> None:
    now = datetime.now(UTC)
    _seed(session, now)

    out = await _run(insights, session, now=now, log_group=GROUP, query=QUERY)

    assert out.status is Status.OK
    assert out.summary == f"3 rows from `{GROUP}` in the last 1h."
    table = out.tables[0]
    assert table.columns == ("@timestamp", "@message")  # @ptr is not for people
    assert [row[1] for row in table.rows] == [
        "INFO GET /health 200 m=1",
        "INFO GET /health 200 m=1",
        "INFO GET /health 200 m=2",
    ]
    assert out.data["complete"] is True
    assert out.data["rows"][0]["@message"] == "INFO GET /health 200 m=1"


async def test_insights_with_no_rows(session: boto3.Session) -> None:
    session.client("logs").create_log_group(logGroupName=GROUP)

    out = await _run(insights, session, log_group=GROUP, query=QUERY)

    assert out.summary == f"The query returned no rows from `{GROUP}` in the last 1h."
    assert out.data["count"] == 0


async def test_insights_slow_query_is_stopped_and_partial_rows_shown(
    session: boto3.Session,
) -> None:
    session.client("logs").create_log_group(logGroupName=GROUP)
    stopped: list[str] = []
    partial = {
        "status": "Running",
        "results": [
            [
                {"field": "bin(5m)", "value": "2024-03-05 13:55:00.000"},
                {"field": "count()", "value": "42"},
            ]
        ],
        "statistics": {"recordsMatched": 42.0, "recordsScanned": 90000.0, "bytesScanned": 9e6},
    }
    fake_operation(session, "logs", "GetQueryResults", partial)
    fake_operation(
        session, "logs", "StopQuery", lambda request: stopped.append(request["queryId"]) or {}
    )

    out = await _run(
        insights,
        session,
        log_group=GROUP,
        query="stats count() by bin(5m)",
        max_wait="300ms",
    )

    assert len(stopped) == 1
    assert out.status is Status.WARN
    assert out.summary.startswith(
        f"The query over `{GROUP}` did not finish within 0.3s; it was stopped."
    )
    assert "1 partial row(s)" in out.summary
    assert out.tables[0].columns == ("bin(5m)", "count()")
    assert out.data["complete"] is False


async def test_insights_cancelled_by_the_step_timeout_stops_the_query(
    session: boto3.Session,
) -> None:
    session.client("logs").create_log_group(logGroupName=GROUP)
    stopped: list[str] = []
    fake_operation(session, "logs", "GetQueryResults", {"status": "Running", "results": []})
    fake_operation(
        session, "logs", "StopQuery", lambda request: stopped.append(request["queryId"]) or {}
    )

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(_run(insights, session, log_group=GROUP, query=QUERY), 1.0)

    assert len(stopped) == 1


async def test_insights_failed_query_is_an_error(session: boto3.Session) -> None:
    session.client("logs").create_log_group(logGroupName=GROUP)
    fake_operation(session, "logs", "GetQueryResults", {"status": "Failed", "results": []})

    with pytest.raises(StepError, match="ended as Failed"):
        await _run(insights, session, log_group=GROUP, query=QUERY)


async def test_insights_needs_a_log_group(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="needs `log_group`"):
        await _run(insights, session, query=QUERY)


# --- logs.filter -------------------------------------------------------------------------------


async def test_filter_latest_matches_first(session: boto3.Session) -> None:
    now = datetime.now(UTC)
    _seed(session, now)

    out = await _run(filter_events, session, now=now, log_group=GROUP, pattern="ERROR", limit=4)

    assert out.data["count"] == 6
    messages = [e["message"] for e in out.data["events"]]
    assert messages == [
        "ERROR upstream timed out m=3",
        "ERROR upstream timed out m=3",
        "ERROR upstream timed out m=6",
        "ERROR upstream timed out m=6",
    ]
    assert [e["stream"] for e in out.data["events"][:2]] == ["web-1", "web-2"]
    assert out.summary.startswith(
        f"6 events matching `ERROR` in `{GROUP}` in the last 1h (showing the latest 4); latest at "
    )
    assert out.summary.endswith(": ERROR upstream timed out m=3")
    assert out.tables[0].columns == ("Time (UTC)", "Stream", "Message")


async def test_filter_long_messages_are_cut(session: boto3.Session) -> None:
    now = datetime.now(UTC)
    logs = session.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    big = "ERROR " + "x" * 5000
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="s",
        logEvents=[{"timestamp": int(now.timestamp() * 1000) - 1000, "message": big}],
    )

    out = await _run(filter_events, session, now=now, log_group=GROUP)

    message = out.data["events"][0]["message"]
    assert len(message) == 300 and message.endswith("…")


async def test_filter_nothing_matches(session: boto3.Session) -> None:
    now = datetime.now(UTC)
    _seed(session, now)

    out = await _run(filter_events, session, now=now, log_group=GROUP, pattern="panic")

    assert out.summary == f"No events matching `panic` in `{GROUP}` in the last 1h."
    assert out.tables == ()


async def test_filter_unknown_log_group(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="There is no log group `/nope` in us-east-1"):
        await _run(filter_events, session, log_group="/nope")
