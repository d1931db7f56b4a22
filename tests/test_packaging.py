"""The wheel's package list: every package under bot/ is in pyproject.toml, and so are the
shipped playbooks (mapped from the top-level playbooks/ folder)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bot.config import shipped_playbooks

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_under_bot_is_listed_for_the_wheel() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "bot").rglob("__init__.py")
    }
    assert set(setuptools["packages"]) == on_disk | {"bot.playbooks.shipped"}
    assert setuptools["package-dir"] == {"bot.playbooks.shipped": "playbooks"}


def test_a_checkout_finds_its_shipped_playbooks_at_the_top_level() -> None:
    assert shipped_playbooks() == ROOT / "playbooks"
    assert (shipped_playbooks() / "alb-errors.yaml").is_file()
