"""The digest as text for the CLI and as Slack Block Kit. Pure: a Digest in, text or dicts out.

Both renderers read the same parts (a title and its lines), so the terminal and Slack always say
the same thing. Slack's limits (50 blocks, 3000 characters per section, 150 per header) are
enforced here, in ``_section`` / ``_header`` / ``digest_blocks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from bot.digest.failures import ANOMALIES, BUDGETS, Section
from bot.digest.model import CostLine, Digest
from bot.digest.money import change, money, percent
from bot.render.limits import MAX_BLOCKS, MAX_HEADER_TEXT, MAX_SECTION_TEXT, clip
from bot.render.mrkdwn import escape

MAX_LINES = 15  # per part: a digest is read at a glance
NAME_WIDTH = 45  # longest name column in the terminal


@dataclass(frozen=True)
class _Part:
    """One part of the digest: a title and its lines, or a table of cost lines."""

    title: str
    lines: tuple[str, ...] = ()
    costs: tuple[CostLine, ...] = ()
    currency: str = ""
    warning: bool = False


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _title(d: Digest) -> str:
    return f"AWS spend for {_day(d.report_date)}"


def _compare(label: str, value: Decimal, base: Decimal | None, currency: str) -> str:
    if base is None:
        return ""
    return f"{label} ({money(base, currency)}): {change(value - base, base, currency)}"


def _summary(d: Digest) -> _Part:
    if d.total is None:
        return _Part("", lines=("Yesterday's spend is unavailable (see below).",))
    cur = d.currency
    lines = [f"Yesterday: {money(d.total, cur)}" + (" (estimated)" if d.estimated else "")]
    lines.append(_compare("vs the day before", d.total, d.previous_total, cur))
    lines.append(_compare("vs the 7-day average", d.total, d.avg_7d, cur))
    return _Part("", lines=tuple(line for line in lines if line))


def _services(d: Digest) -> _Part | None:
    if not d.services:
        return None
    lines: list[CostLine] = list(d.services)
    if d.total is not None and d.previous_total is not None:
        other = d.total - sum((s.cost for s in d.services), Decimal(0))
        before = d.previous_total - sum((s.previous for s in d.services), Decimal(0))
        if abs(other) >= Decimal("0.005") or abs(before) >= Decimal("0.005"):
            lines.append(CostLine("Other services", other, before, other - before))
    return _Part("Top services, biggest movers first", costs=tuple(lines), currency=d.currency)


def _month(d: Digest) -> _Part | None:
    cur, lines = d.currency, []
    if d.mtd is not None:
        text = f"Month to date: {money(d.mtd, cur)}"
        if d.mtd_last_month is not None:
            same = change(d.mtd - d.mtd_last_month, d.mtd_last_month, cur)
            text += f"; same days last month {money(d.mtd_last_month, cur)}: {same}"
        lines.append(text)
    if d.forecast is not None:
        f = d.forecast
        days = (f.end - f.start).days
        rest = f"{money(f.remaining, cur)} forecast for the remaining {days} days"
        if f.month_total is not None:
            lines.append(f"Forecast for {d.report_date:%B}: {money(f.month_total, cur)} ({rest})")
        else:
            lines.append(f"Forecast: {rest}")
    return _Part("This month", lines=tuple(lines)) if lines else None


def _missing(d: Digest, section: Section) -> bool:
    return any(line.startswith(f"{section.title} unavailable") for line in d.missing)


def _anomalies(d: Digest) -> _Part | None:
    if _missing(d, ANOMALIES):
        return None
    if not d.anomalies:
        return _Part("Cost anomalies", lines=("No open cost anomalies in the last 7 days.",))
    lines = []
    for a in d.anomalies:
        text = f"{a.dimension or 'Anomaly'}: {money(a.total_impact, d.currency)} impact"
        if a.impact_percent is not None:
            text += f" ({percent(a.impact_percent, 100)} over expected)"
        text += f", since {a.start[:10]}"
        causes = [
            c.label + (f" ({money(c.contribution, d.currency)})" if c.contribution else "")
            for c in a.root_causes[:3]
        ]
        if causes:
            text += f"; root cause: {'; '.join(causes)}"
        lines.append(text)
    return _Part("Open cost anomalies (last 7 days)", lines=tuple(lines))


def _budgets(d: Digest) -> _Part | None:
    if _missing(d, BUDGETS):
        return None
    if not d.budgets:
        return _Part("Budgets", lines=("No cost budget is at 80 % of its limit or more.",))
    lines = []
    for b in d.budgets:
        state = "OVER" if b.actual > b.limit else "near"
        text = (
            f"{b.name} ({b.time_unit.lower()}): {state} limit, {money(b.actual, b.unit)} "
            f"of {money(b.limit, b.unit)} ({b.percent:.0f}%)"
        )
        if b.forecasted is not None:
            text += f", forecast {money(b.forecasted, b.unit)}"
        lines.append(text)
    return _Part("Budgets at 80 % of their limit or more", lines=tuple(lines))


def _tags(d: Digest) -> _Part | None:
    if not d.tag_groups:
        return None
    return _Part(f"By {d.tag_key}", costs=d.tag_groups, currency=d.currency)


def _parts(d: Digest) -> list[_Part]:
    parts = [_summary(d)]
    for build in (_services, _month, _anomalies, _budgets, _tags):
        part = build(d)
        if part is not None:
            parts.append(part)
    if d.missing:
        parts.append(_Part("Missing", lines=d.missing, warning=True))
    return parts


def price_line(d: Digest) -> str:
    """What the digest cost to build, so nobody is surprised by the Cost Explorer bill."""
    plural = "" if d.ce_requests == 1 else "s"
    return (
        f"This digest made {d.ce_requests} Cost Explorer request{plural} "
        f"(≈ {money(d.ce_cost_usd, 'USD')})."
    )


def _clip(lines: tuple[str, ...]) -> list[str]:
    if len(lines) <= MAX_LINES:
        return list(lines)
    return [*lines[: MAX_LINES - 1], f"… and {len(lines) - MAX_LINES + 1} more"]


def _table(part: _Part) -> tuple[str, ...]:
    """Cost lines as aligned columns: name, cost, change."""
    cur = part.currency
    names = [line.name for line in part.costs]
    costs = [money(line.cost, cur) for line in part.costs]
    width = min(max(map(len, names)), NAME_WIDTH)
    money_width = max(map(len, costs))
    return tuple(
        f"{name.ljust(width)}  {cost.rjust(money_width)}  {change(line.change, line.previous, cur)}"
        for name, cost, line in zip(names, costs, part.costs, strict=True)
    )


def digest_text(d: Digest) -> str:
    """The digest for a terminal: plain text, aligned columns."""
    out = [_title(d), ""]
    for part in _parts(d):
        if part.title:
            out.append(part.title)
        indent = "  " if part.title else ""
        bullet = "- " if part.warning else ""
        lines = _table(part) if part.costs else part.lines
        out += [f"{indent}{bullet}{line}" for line in _clip(lines)]
        out.append("")
    out.append(price_line(d))
    return "\n".join(out) + "\n"


def digest_fallback_text(d: Digest) -> str:
    """The notification text Slack shows where blocks cannot be shown."""
    if d.total is None:
        return f"{_title(d)}: daily spend unavailable."
    text = f"{_title(d)}: {money(d.total, d.currency)}"
    if d.previous_total is not None:
        delta = change(d.total - d.previous_total, d.previous_total, d.currency)
        text += f" ({delta} vs the day before)"
    return text


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True},
    }


def _section(title: str, lines: list[str]) -> dict[str, Any]:
    """A mrkdwn section of at most 15 lines and 3000 characters, cut at whole lines, with
    "… and N more" counting every line left out."""
    head = f"*{escape(title)}*\n" if title else ""
    kept: list[str] = []
    for index, line in enumerate(lines):
        left = len(lines) - index  # this line and the ones after it
        reserve = len(f"\n… and {left - 1} more") if left > 1 else 0
        too_long = len(head + "\n".join([*kept, line])) + reserve > MAX_SECTION_TEXT
        if kept and (too_long or len(kept) == MAX_LINES - 1 < len(lines) - 1):
            kept.append(f"… and {left} more")
            break
        if too_long:
            line = line[: MAX_SECTION_TEXT - len(head) - reserve - 2] + "…"
        kept.append(line)
    text = (head + "\n".join(kept))[:MAX_SECTION_TEXT]
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _mrkdwn_lines(part: _Part) -> list[str]:
    if part.costs:
        cur = part.currency
        return [
            f"• *{escape(line.name)}* {money(line.cost, cur)}, "
            f"{change(line.change, line.previous, cur)}"
            for line in part.costs
        ]
    marker = ":warning: " if part.warning else "• " if part.title else ""
    return [f"{marker}{escape(line)}" for line in part.lines]


def digest_blocks(d: Digest) -> list[dict[str, Any]]:
    """The digest as Block Kit, within Slack's limits. The chart is uploaded separately."""
    blocks: list[dict[str, Any]] = [_header(_title(d))]
    for part in _parts(d):
        blocks.append(_section(part.title, _mrkdwn_lines(part)))
    footer = {"type": "context", "elements": [{"type": "mrkdwn", "text": price_line(d)}]}
    blocks = blocks[: MAX_BLOCKS - 2]
    blocks += [{"type": "divider"}, footer]
    return blocks
