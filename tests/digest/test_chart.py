"""The digest chart is a real, decodable PNG of a sensible size."""

from __future__ import annotations

import io
import struct

from matplotlib.image import imread

from bot.digest.chart import digest_chart_png
from bot.digest.model import DayCosts
from tests.digest.samples import week_digest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_chart_is_a_png_of_fourteen_days() -> None:
    png = digest_chart_png(week_digest())

    assert png is not None
    assert png[:8] == PNG_MAGIC
    assert 5_000 < len(png) < 500_000
    length, kind, width, height = struct.unpack(">I4sII", png[8:24])
    assert (length, kind) == (13, b"IHDR")
    assert (width, height) == (900, 450)
    pixels = imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (450, 900)
    assert pixels.std() > 0.05  # something is drawn, not a blank canvas


def test_no_chart_without_costs() -> None:
    assert digest_chart_png(week_digest(daily_series=())) is None
    empty_days = tuple(DayCosts(day.day, ()) for day in week_digest().daily_series)
    assert digest_chart_png(week_digest(daily_series=empty_days)) is None


def test_chart_in_another_currency() -> None:
    png = digest_chart_png(week_digest(currency="EUR"))
    assert png is not None and png[:8] == PNG_MAGIC
