"""The demo's output folder: made or reused, never someone else's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.demo.output import MARKER, prepare
from bot.errors import ConfigError


def test_a_new_folder_is_made_and_marked(tmp_path: Path) -> None:
    folder = prepare(tmp_path / "out" / "demo")
    assert (folder / MARKER).is_file()


def test_a_second_run_replaces_what_the_first_wrote(tmp_path: Path) -> None:
    folder = prepare(tmp_path / "out")
    (folder / "messages").mkdir()
    (folder / "messages" / "01-old.json").write_text("{}")
    prepare(folder)
    assert list((folder / "messages").iterdir()) == []


def test_a_folder_the_demo_did_not_write_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty and was not written by the demo"):
        prepare(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
