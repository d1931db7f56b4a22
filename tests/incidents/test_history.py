"""Has this happened before? The whole app (``build_app`` on a loopback port, signed SNS alarms,
the Slack stand-in over HTTP, moto): an alarm that fired three times before (one of them
acknowledged in Slack) and another alarm on the same load balancer; its next ALARM's thread
opens with what happened then, linking each earlier thread. A route may turn it off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.demo.slack_api import SlackMessage
from bot.errors import ConfigError
from tests.alarms.sns_harness import CHANNEL, SnsHarness, start_harness
from tests.incidents.through_app import NAME, fire, press, to_slack

LB = "app/prod-api/50dc6c495c0c9188"
NOW = datetime.now(UTC).replace(microsecond=0)
PERMALINK = re.compile(r"<https://fake-workspace\.slack\.com/archives/C0ALARMS/p(\d+)\|thread>")


async def fired_before(h: SnsHarness) -> list[SlackMessage]:
    """Three incidents of the alarm (12m, 45m acknowledged, 5m) and one of another alarm on
    its load balancer; their roots, oldest first."""
    for days, minutes in ((3, 12), (2, 45), (1, 5)):
        opened = NOW - timedelta(days=days)
        await fire(h, "ALARM", opened)
        if days == 2:
            await to_slack(h, press(h.roots(NAME)[-1], "incident_ack"))
        await fire(h, "OK", opened + timedelta(minutes=minutes))
    await fire(h, "ALARM", NOW - timedelta(hours=20), "prod-api-latency")
    await fire(h, "OK", NOW - timedelta(hours=20, minutes=-8), "prod-api-latency")
    return h.roots(NAME)


async def test_a_second_alarm_opens_its_thread_with_the_history_and_links(
    app_harness: SnsHarness,
) -> None:
    h = app_harness
    earlier = await fired_before(h)
    assert len(earlier) == 3

    await fire(h, "ALARM", NOW)

    roots = h.roots(NAME)
    assert len(roots) == 4
    first, *later = h.slack.thread(CHANNEL, roots[-1].ts)
    assert any(m.metadata and m.metadata["event_payload"]["kind"] == "run" for m in later)
    lines = first.text.splitlines()
    assert lines[0] == (
        f"🕘 *Seen before*: *{NAME}* fired 3 times in the last 30d; "
        "median 12m to resolve, longest 45m."
    )
    # Newest first, each linking its own thread (the permalink Slack gave for its root).
    assert [re.findall(r"resolved after (\w+)", line) for line in lines[1:4]] == [
        ["5m"],
        ["45m"],
        ["12m"],
    ]
    linked = [PERMALINK.search(line) for line in lines[1:4]]
    assert [m[1] if m else "" for m in linked] == [r.ts.replace(".", "") for r in reversed(earlier)]
    assert "acknowledged by <@U0ONCALL>" in lines[2]
    assert "acknowledged" not in lines[1] + lines[3]
    assert lines[1].startswith(f"• {(NOW - timedelta(days=1)):%Y-%m-%d %H:%M:%S} UTC (1d ago)")
    # Apart from it: the other alarm on the same load balancer.
    assert lines[4] == f"🔗 Other alarms on load balancer `{LB}` fired once in the last 30d:"
    assert lines[5].startswith("• *prod-api-latency* once; last ")
    assert "resolved after 8m" in lines[5] and PERMALINK.search(lines[5])
    assert len(lines) == 6
    assert h.slack.calls_to("chat.getPermalink")


async def test_a_route_with_history_off_says_nothing_of_it(tmp_path: Path, moto_url: str) -> None:
    routes = f'[[routes]]\nplaybook = "alarm-default"\nmatch = {{ alarm_name = "{NAME}" }}\n'
    async for h in start_harness(tmp_path, moto_url, extra=routes + "history = false\n"):
        await fire(h, "ALARM", NOW - timedelta(days=1))
        await fire(h, "OK", NOW - timedelta(days=1) + timedelta(minutes=5))
        await fire(h, "ALARM", NOW - timedelta(minutes=1))

        [_, root] = h.roots(NAME)
        replies = h.slack.thread(CHANNEL, root.ts)
        assert replies and not any("Seen before" in m.text for m in replies)
        assert replies[0].metadata and replies[0].metadata["event_payload"]["kind"] == "run"


async def test_the_window_is_configurable(tmp_path: Path, moto_url: str) -> None:
    async for h in start_harness(tmp_path, moto_url, extra='[history]\nwindow = "2d"\n'):
        for days in (3, 1):  # the first is outside the window
            await fire(h, "ALARM", NOW - timedelta(days=days))
            await fire(h, "OK", NOW - timedelta(days=days) + timedelta(minutes=5))
        await fire(h, "ALARM", NOW)

        first = h.slack.thread(CHANNEL, h.roots(NAME)[-1].ts)[0]
        assert first.text.splitlines()[0] == (
            f"🕘 *Seen before*: *{NAME}* fired once in the last 2d; resolved after 5m."
        )


def test_a_window_under_an_hour_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[history]\nwindow = "10m"\n')
    with pytest.raises(
        ConfigError, match=r"config.toml:2:\d+: `history.window`: .*look back at least an hour"
    ):
        load_settings(path, env={})
