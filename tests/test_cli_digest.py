"""``triagebot digest``: a real subprocess against moto server (and the local Slack stand-in).

Two weeks of costs are seeded into moto's Cost Explorer for the digest that goes out on the
morning of 2026-11-20 and reports Thursday 2026-11-19:

- a normal day: EC2 100, RDS 50, S3 10, Lambda 2 → 162.00;
- 2026-11-19: EC2 130, S3 4, Lambda 20 → 204.00;
- month to date (Nov 1-19): 18 days at 162 + 204 = 3,120.00; Oct 1-19: 150.00 a day = 2,850.00.

moto has no GetCostForecast or GetAnomalies: the first test puts a proxy in front of moto server
that answers only those two operations (tests/support/aws_proxy.py), so the subprocess prints a
forecast; the others talk to moto server directly, where the digest says it is unavailable.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.__main__ import main
from bot.demo.slack_api import FakeSlackApi
from bot.demo.slack_model import blocks_text
from tests.support.aws_proxy import SlowAws

ROOT = Path(__file__).resolve().parent.parent
SENT_ON = date(2026, 11, 20)
REPORTED = date(2026, 11, 19)
CHANNEL = "C0COSTS"
EC2 = "Amazon Elastic Compute Cloud - Compute"
RDS = "Amazon Relational Database Service"
S3 = "Amazon Simple Storage Service"
LAMBDA = "AWS Lambda"


def _costs(day: date) -> dict[str, float]:
    if day == REPORTED:
        return {EC2: 130.0, RDS: 50.0, S3: 4.0, LAMBDA: 20.0}
    if day.month == 10:
        return {EC2: 88.0, RDS: 50.0, S3: 10.0, LAMBDA: 2.0}
    return {EC2: 100.0, RDS: 50.0, S3: 10.0, LAMBDA: 2.0}


def _money(amount: float) -> dict[str, str]:
    return {"Amount": f"{amount:.10f}", "Unit": "USD"}


def _period(day: date) -> dict[str, str]:
    return {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()}


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


def daily_by_service() -> dict[str, Any]:
    """GetCostAndUsage DAILY by SERVICE over the 14 days 2026-11-06..2026-11-19."""
    results = [
        {
            "TimePeriod": _period(day),
            "Total": {},
            "Groups": [
                {"Keys": [name], "Metrics": {"UnblendedCost": _money(cost)}}
                for name, cost in sorted(_costs(day).items())
            ],
            "Estimated": False,
        }
        for day in _days(date(2026, 11, 6), SENT_ON)
    ]
    return {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}], "ResultsByTime": results}


def month_to_date() -> dict[str, Any]:
    """GetCostAndUsage DAILY, ungrouped, over 2026-10-01..2026-11-19."""
    results = [
        {
            "TimePeriod": _period(day),
            "Total": {"UnblendedCost": _money(sum(_costs(day).values()))},
            "Groups": [],
            "Estimated": False,
        }
        for day in _days(date(2026, 10, 1), SENT_ON)
    ]
    return {"ResultsByTime": results}


def seed_costs(moto_url: str) -> None:
    response = requests.post(
        f"{moto_url}/moto-api/static/ce/cost-and-usage-results",
        json={"results": [daily_by_service(), month_to_date()]},
        timeout=5,
    )
    assert response.status_code == 201


def write_config(tmp_path: Path, digest: bool = True) -> Path:
    path = tmp_path / "config.toml"
    section = f'[digest]\ncron = "0 9 * * *"\ntimezone = "Europe/Berlin"\nchannel = "{CHANNEL}"\n'
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "state.db"}"\n' + (section if digest else "")
    )
    return path


def cli_env(moto_url: str, config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TRIAGEBOT_"))}
    env.update(
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        TRIAGEBOT_CONFIG=str(config),
        **extra,
    )
    return env


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``python -m bot digest …`` in a subprocess; the event loop keeps serving the fake Slack."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "digest",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _row(text: str, name: str) -> str:
    [row] = [line for line in text.splitlines() if line.strip().startswith(f"{name} ")]
    return " ".join(row.split())


FORECAST = {
    "Total": {"Amount": "1800.0", "Unit": "USD"},
    "ForecastResultsByTime": [
        {"TimePeriod": {"Start": "2026-11-20", "End": "2026-12-01"}, "MeanValue": "1800.0"}
    ],
}
ANOMALIES = {
    "Anomalies": [
        {
            "AnomalyId": "a-1",
            "AnomalyStartDate": "2026-11-19",
            "DimensionValue": "AWS Lambda",
            "RootCauses": [
                {"Service": "AWS Lambda", "Region": "us-east-1", "UsageType": "Request"}
            ],
            "AnomalyScore": {"MaxScore": 0.9, "CurrentScore": 0.9},
            "Impact": {"MaxImpact": 18.0, "TotalImpact": 18.0, "TotalExpectedSpend": 2.0},
            "MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/m-1",
        }
    ]
}


async def test_digest_prints_the_total_the_top_movers_and_the_forecast(
    slow_aws: SlowAws, moto_url: str, tmp_path: Path
) -> None:
    seed_costs(moto_url)
    slow_aws.answer("GetCostForecast", FORECAST)
    slow_aws.answer("GetAnomalies", ANOMALIES)
    env = cli_env(slow_aws.url, write_config(tmp_path))

    code, out, err = await run_cli(env, "--date", "2026-11-20")

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "AWS spend for Thu 19 Nov 2026"
    assert "Yesterday: $204.00" in lines
    assert "vs the day before ($162.00): +$42.00 (+26%)" in out
    assert "vs the 7-day average ($162.00): +$42.00 (+26%)" in out
    movers = out.split("Top services, biggest movers first\n")[1].split("\n\n")[0].splitlines()
    assert [" ".join(m.split()) for m in movers] == [
        "Amazon Elastic Compute Cloud - Compute $130.00 +$30.00 (+30%)",
        "AWS Lambda $20.00 +$18.00 (+900%)",
        "Amazon Simple Storage Service $4.00 -$6.00 (-60%)",
        "Amazon Relational Database Service $50.00 no change",
    ]
    assert _row(out, "AWS Lambda") == "AWS Lambda $20.00 +$18.00 (+900%)"
    assert "Month to date: $3,120.00; same days last month $2,850.00: +$270.00 (+9%)" in out
    [forecast] = [line for line in lines if "orecast" in line]
    assert "$4,920.00" in forecast, out  # month to date $3,120 + $1,800 forecast for the rest
    assert "AWS Lambda" in out.split("nomal")[1], out
    assert "Cost Explorer request" in lines[-1]


async def test_digest_without_a_forecast_says_it_is_unavailable(
    moto_url: str, tmp_path: Path
) -> None:
    seed_costs(moto_url)  # moto server itself: no GetCostForecast
    code, out, err = await run_cli(
        cli_env(moto_url, write_config(tmp_path)), "--date", "2026-11-20"
    )
    assert code == 0, err
    [forecast] = [line for line in out.splitlines() if "Forecast" in line]
    assert forecast.strip().startswith("- Forecast unavailable:")


async def test_digest_post_sends_the_message_and_the_chart(moto_url: str, tmp_path: Path) -> None:
    seed_costs(moto_url)
    async with FakeSlackApi(token="xoxb-cli") as slack:
        env = cli_env(
            moto_url,
            write_config(tmp_path),
            SLACK_API_URL=slack.base_url,
            SLACK_BOT_TOKEN="xoxb-cli",
        )

        code, out, err = await run_cli(env, "--date", "2026-11-20", "--post")

        assert code == 0, err
        [message] = slack.messages(CHANNEL)
        assert message.text == (
            "AWS spend for Thu 19 Nov 2026: $204.00 (+$42.00 (+26%) vs the day before)"
        )
        text = "\n".join(blocks_text(message.blocks))
        assert "Yesterday: $204.00" in text and "Amazon Elastic Compute Cloud" in text
        [reply] = slack.thread(CHANNEL, message.ts)
        [file] = [slack.files[f] for f in reply.file_ids]
        assert file.filename == "aws-spend-2026-11-19.png" and file.completed
        assert file.content is not None and file.content.startswith(b"\x89PNG")
        assert f"Posted the digest for 2026-11-19 to {CHANNEL}" in out


async def test_digest_post_says_when_slack_refuses(moto_url: str, tmp_path: Path) -> None:
    seed_costs(moto_url)
    async with FakeSlackApi() as slack:
        slack.fail_next("chat.postMessage", error="not_in_channel")
        env = cli_env(
            moto_url, write_config(tmp_path), SLACK_API_URL=slack.base_url, SLACK_BOT_TOKEN="xoxb-x"
        )
        code, _, err = await run_cli(env, "--date", "2026-11-20", "--post")
    assert code == 1
    assert "Slack did not take the digest: not_in_channel" in err


def test_a_bad_date_is_usage_error_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIAGEBOT_CONFIG", str(write_config(tmp_path)))
    assert main(["digest", "--date", "20-11-2026"]) == 2
    assert "--date '20-11-2026' is not a date; use YYYY-MM-DD" in capsys.readouterr().err
    assert main(["digest", "--date", "2026-02-30"]) == 2


def test_post_without_a_digest_section_says_what_to_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIAGEBOT_CONFIG", str(write_config(tmp_path, digest=False)))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    assert main(["digest", "--post"]) == 1
    assert "add [digest] with a channel" in capsys.readouterr().err


def test_post_without_a_bot_token_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIAGEBOT_CONFIG", str(write_config(tmp_path)))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert main(["digest", "--post"]) == 1
    assert "--post needs SLACK_BOT_TOKEN" in capsys.readouterr().err


async def test_without_a_digest_section_it_still_prints_with_the_defaults(
    moto_url: str, tmp_path: Path
) -> None:
    seed_costs(moto_url)
    env = cli_env(moto_url, write_config(tmp_path, digest=False))
    code, out, err = await run_cli(env, "--date", "2026-11-20")
    assert code == 0, err
    assert "no [digest] section in the config" in err
    assert out.startswith("AWS spend for Thu 19 Nov 2026\n")
