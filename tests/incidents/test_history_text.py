"""How the history reply reads for alarms that fire often, or more than five times, and with
names that carry markup (pure: incidents in, text out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.incidents.history_text import OtherAlarm, Past, Recall, history_reply
from bot.store.base import Incident

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)


def past(opened: datetime, took: timedelta | None, acked: str = "", ts: str = "") -> Past:
    incident = Incident(
        key="k",
        route="C1/alarm-default",
        channel="C1",
        root_ts=ts,
        state="OK",
        opened_at=opened,
        state_changed_at=opened,
        alarm_name="prod-api-5xx",
        acknowledged_by=acked,
        resolved_at=opened + took if took is not None else None,
    )
    link = f"https://example.slack.com/archives/C1/p{ts}" if ts else ""
    return Past(incident, link)


def test_an_alarm_that_fires_daily_says_so_in_one_line() -> None:
    same = [
        past(NOW - timedelta(days=d, minutes=d), timedelta(minutes=d + 2), ts=f"{d}")
        for d in range(1, 11)
    ]
    lines = history_reply(Recall("prod-api-5xx", NOW, WINDOW, same)).text.splitlines()

    assert lines[0].startswith("🕘 *Seen before*: *prod-api-5xx* fired 10 times in the last 30d")
    assert lines[1] == "It fires about daily; last 7 resolved by themselves within 9m."
    assert lines[2] == (
        "Last: 2026-11-30 08:59:00 UTC (1d ago) · resolved after 3m · "
        "<https://example.slack.com/archives/C1/p1|thread>"
    )
    assert len(lines) == 3


def test_hourly_alarms_say_how_often_and_how_many_were_acknowledged() -> None:
    same = [
        past(NOW - timedelta(hours=h), timedelta(minutes=3), acked="U0ONCALL" if h < 3 else "")
        for h in range(1, 9)
    ]
    text = history_reply(Recall("x", NOW, WINDOW, same)).text

    assert (
        "It fires about 24 times a day; last 7 resolved within 3m, 2 of them acknowledged." in text
    )


def test_at_most_five_earlier_incidents_are_listed() -> None:
    same = [past(NOW - timedelta(days=3 * d), timedelta(minutes=10)) for d in range(1, 8)]
    lines = history_reply(Recall("x", NOW, WINDOW, same)).text.splitlines()

    assert [line[:2] for line in lines[1:6]] == ["• "] * 5
    assert lines[6] == "… and 2 earlier"
    assert len(lines) == 7


def test_names_are_data_and_open_incidents_have_no_time_to_resolve() -> None:
    other = OtherAlarm("<!channel> latency", [past(NOW - timedelta(hours=1), None)])
    recall = Recall("<@U123> &", NOW, WINDOW, [past(NOW - timedelta(days=1), None)], "", [other])
    text = history_reply(recall).text

    assert "*&lt;@U123&gt; &amp;* fired once in the last 30d (none of them resolved yet)." in text
    assert "*&lt;!channel&gt; latency* once; last " in text and "still open" in text
    assert "<!channel>" not in text and "<@U123>" not in text
