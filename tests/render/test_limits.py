"""Slack limits: cutting text at line boundaries, and capping the number of blocks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.render.limits import clip, context_block, fit_blocks, truncate


def test_short_text_is_left_alone() -> None:
    assert truncate("one\ntwo", 100) == "one\ntwo"


def test_cuts_at_a_line_boundary_and_counts_the_rest() -> None:
    text = "\n".join(f"line {i:03d}" for i in range(100))
    out = truncate(text, 200, "— see the file")
    assert len(out) <= 200
    kept, note = out.rsplit("\n", 1)
    assert all(line.startswith("line ") and len(line) == 8 for line in kept.split("\n"))
    shown = len(kept.split("\n"))
    assert note == f"… {100 - shown} more lines — see the file"


def test_one_long_line_is_cut_by_characters() -> None:
    out = truncate("x" * 10_000, 3000)
    assert len(out) <= 3000
    assert out.endswith(f"… {10_000 - out.index(chr(10))} more chars")


@given(st.text(min_size=0, max_size=400), st.integers(min_value=1, max_value=300))
def test_never_longer_than_the_limit(text: str, limit: int) -> None:
    assert len(truncate(text, limit, "— more in the file")) <= limit


def test_clip_keeps_one_line() -> None:
    assert clip("a  very\nlong title", 9) == "a very l…"
    assert clip("short", 9) == "short"


def test_fit_blocks_keeps_49_and_counts_the_rest() -> None:
    blocks = [{"type": "divider", "n": i} for i in range(80)]
    fitted = fit_blocks(blocks)
    assert len(fitted) == 50
    assert fitted[:49] == blocks[:49]
    assert fitted[-1]["type"] == "context"
    assert fitted[-1]["elements"][0]["text"] == (
        "… 31 more sections — full output in the attached file"
    )
    assert fit_blocks(blocks[:50]) == blocks[:50]


def test_context_block_holds_ten_short_elements() -> None:
    block = context_block([f"{i}" + "y" * 5000 for i in range(12)])
    assert len(block["elements"]) == 10
    assert all(len(e["text"]) <= 2000 for e in block["elements"])
