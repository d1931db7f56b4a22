"""The digest's chart: 14 days of spend as stacked bars, the top 5 services plus "Other".

Drawn with matplotlib's Agg canvas on a ``Figure`` of its own (never pyplot's global state), so
it is safe in a server thread and leaves nothing behind.
"""

from __future__ import annotations

import io
from collections import defaultdict
from decimal import Decimal

from bot.digest.model import Digest
from bot.digest.money import money

TOP = 5
OTHER = "Other"
_NAME_WIDTH = 38


def _short(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 1] + "…"


def _stacks(d: Digest) -> dict[str, list[float]]:
    """Per-day amounts for the top services (by 14-day total) and everything else."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for day in d.daily_series:
        for name, amount in day.by_service:
            totals[name] += amount
    top = [n for n, t in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP] if t > 0]
    stacks: dict[str, list[float]] = {name: [] for name in top}
    others: list[float] = []
    for day in d.daily_series:
        amounts = dict(day.by_service)
        for name in top:
            stacks[name].append(float(amounts.get(name, 0)))
        others.append(float(sum(v for n, v in day.by_service if n not in stacks)))
    if any(others):
        stacks[OTHER] = others
    return stacks


def digest_chart_png(d: Digest) -> bytes | None:
    """A PNG of the last 14 days' spend by service, or None when there is nothing to draw."""
    if not any(day.total for day in d.daily_series):
        return None
    stacks = _stacks(d)
    labels = [f"{day.day:%b} {day.day.day}" for day in d.daily_series]
    positions = list(range(len(labels)))
    # matplotlib takes about a second to import: only when a chart is drawn.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bottom = [0.0] * len(labels)
    for name, values in stacks.items():
        color = "#b0b0b0" if name == OTHER else None
        axes.bar(positions, values, bottom=bottom, label=_short(name), color=color, width=0.75)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(positions, labels, rotation=45, ha="right", fontsize=8)
    axes.yaxis.set_major_formatter(lambda value, _pos: money(value, d.currency))
    axes.set_title(f"Daily AWS spend, last {len(labels)} days ({d.currency})")
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
