"""Re-exports the botocore-hook fakes (``bot.demo.aws_hooks``) and loads fixture files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.demo.aws_hooks import AwsFault, conform, fake_operation

__all__ = ["FIXTURES", "AwsFault", "conform", "fake_operation", "load_fixture"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_fixture(name: str) -> dict[str, Any]:
    """A JSON file from tests/fixtures (see tests/fixtures/SOURCES.md for where each came from)."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data
