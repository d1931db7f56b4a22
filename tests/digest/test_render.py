"""The digest as text and as Block Kit: what a reader sees, and Slack's limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.digest.model import Anomaly, RootCause, ServiceCost, TagCost
from bot.digest.render import digest_blocks, digest_fallback_text, digest_text
from tests.digest.samples import week_digest


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            out.append(element["text"])
    return out


def _assert_within_slack_limits(blocks: list[dict[str, Any]]) -> None:
    assert 0 < len(blocks) <= 50
    for block in blocks:
        assert block["type"] in {"header", "section", "divider", "context"}
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn"
            assert 0 < len(block["text"]["text"]) <= 3000


def test_blocks_carry_the_same_facts_as_the_text() -> None:
    digest = week_digest()

    blocks = digest_blocks(digest)

    _assert_within_slack_limits(blocks)
    assert blocks[0]["text"]["text"] == "AWS spend for Mon 10 Mar 2025"
    joined = "\n".join(_texts(blocks))
    assert "Yesterday: $297.25" in joined
    assert "vs the day before ($234.75): +$62.50 (+27%)" in joined
    assert "• *AWS Lambda* $45.00, +$40.00 (+800%)" in joined
    assert "• *Other services* $9.75, no change" in joined  # 297.25 - 287.50, both days
    assert "Forecast for March: $8,031.12" in joined
    assert blocks[-1] == {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": "This digest made 4 Cost Explorer requests (≈ $0.04)."}
        ],
    }


def test_fallback_text_is_one_line_with_the_total() -> None:
    assert digest_fallback_text(week_digest()) == (
        "AWS spend for Mon 10 Mar 2025: $297.25 (+$62.50 (+27%) vs the day before)"
    )
    assert digest_fallback_text(week_digest(total=None, previous_total=None)) == (
        "AWS spend for Mon 10 Mar 2025: daily spend unavailable."
    )


def test_slack_markup_in_names_is_escaped() -> None:
    odd = ServiceCost("R&D <prod> *bold*", Decimal(1), Decimal(1), Decimal(0))
    joined = "\n".join(_texts(digest_blocks(week_digest(services=(odd,)))))
    assert "R&amp;D &lt;prod&gt;" in joined
    assert "<prod>" not in joined


def test_a_huge_digest_stays_within_slack_limits() -> None:
    long = "Amazon Elastic Compute Cloud - Compute " * 6
    anomalies = tuple(
        Anomaly(
            anomaly_id=f"a{n}",
            start="2025-03-09",
            end="2025-03-10",
            dimension=f"{long}{n}",
            total_impact=1000.0 - n,
            impact_percent=50.0,
            root_causes=tuple(RootCause(service=long, region="us-east-1") for _ in range(5)),
        )
        for n in range(300)
    )
    services = tuple(
        ServiceCost(f"{long}{n}", Decimal(n), Decimal(0), Decimal(n)) for n in range(40)
    )
    tags = tuple(TagCost(f"team-{n}", Decimal(n), Decimal(n), Decimal(0)) for n in range(200))
    missing = tuple(f"Section {n} unavailable: " + "x" * 4000 for n in range(60))
    digest = week_digest(
        anomalies=anomalies, services=services, tag_groups=tags, missing=missing, tag_key="Team"
    )

    blocks = digest_blocks(digest)

    _assert_within_slack_limits(blocks)
    sections = {b["text"]["text"].split("\n")[0]: b["text"]["text"] for b in blocks[1:-2]}
    anomaly_lines = sections["*Open cost anomalies (last 7 days)*"].split("\n")[1:]
    shown = len(anomaly_lines) - 1
    assert 0 < shown < 14  # cut by characters before the 15-line cap
    assert anomaly_lines[-1] == f"… and {300 - shown} more"
    assert sections["*By Team*"].split("\n")[-1] == "… and 186 more"  # 14 shown of 200
    missing_lines = sections["*Missing*"].split("\n")[1:]
    assert missing_lines[0].endswith("x…") and missing_lines[1] == "… and 59 more"
    text = digest_text(digest)
    assert "  … and 286 more" in text


def test_text_without_costs_explains_what_is_missing() -> None:
    digest = week_digest(
        total=None,
        previous_total=None,
        avg_7d=None,
        services=(),
        mtd=None,
        mtd_last_month=None,
        forecast=None,
        daily_series=(),
        missing=("Anomalies unavailable: add `ce:GetAnomalies` to the bot's IAM policy.",),
        ce_requests=1,
    )

    text = digest_text(digest)

    assert "Yesterday's spend is unavailable (see below)." in text
    assert "  - Anomalies unavailable: add `ce:GetAnomalies` to the bot's IAM policy." in text
    assert "Cost anomalies" not in text  # no "no anomalies" claim when they could not be read
    assert text.rstrip().endswith("This digest made 1 Cost Explorer request (≈ $0.01).")
    joined = "\n".join(_texts(digest_blocks(digest)))
    assert ":warning: Anomalies unavailable: add `ce:GetAnomalies`" in joined
