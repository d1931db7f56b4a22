"""docs/playbooks.md is generated from the code and committed; it must match the code."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bot.docs import generate_playbook_docs
from bot.playbooks.loader import check_playbook
from bot.steps import default_registry
from bot.steps.base import StepType
from tests.playbooks.fake_steps import fake_registry

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "playbooks.md"


def test_committed_docs_match_the_code() -> None:
    expected = generate_playbook_docs(default_registry())
    assert DOCS.read_text(encoding="utf-8") == expected, (
        "docs/playbooks.md is out of date: run `make docs` and commit it"
    )


def test_python_m_bot_docs_prints_the_docs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.docs"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout == generate_playbook_docs(default_registry())


def test_docs_describe_every_step_type_and_its_parameters() -> None:
    text = generate_playbook_docs(fake_registry())
    assert "### `test.probe`" in text
    assert "| `target` | string | required | What to probe. |" in text
    assert "| `count` | integer | `3` | How many times. |" in text
    assert "| `lookback` | duration | `1h` | How far back to look. |" in text
    assert "IAM actions: `test:Probe`" in text
    assert "**Changes AWS**" in text
    assert "- id: probe\n  uses: test.probe\n" in text


def test_docs_cover_the_schema_and_templating() -> None:
    text = generate_playbook_docs(fake_registry())
    for key in ("`name`", "`timeout`", "`mutating`", "`needs`", "`when`", "`choices`"):
        assert f"| {key} |" in text
    assert "| `timeout` | Deadline for this step (a duration). | `10s` |" in text
    assert "`alarm.dimensions`" in text and "`metric_name`" in text
    assert "StrictUndefined" in text and "sandbox" in text and "`duration` filter" in text


@pytest.mark.parametrize("step", list(default_registry()), ids=lambda step: step.name)
def test_every_step_example_is_a_valid_step(step: StepType[Any], tmp_path: Path) -> None:
    assert step.example, f"{step.name} has no Example: in its docstring"
    path = tmp_path / "example.yaml"
    mutating = "true" if step.mutating else "false"
    path.write_text(
        f"name: example\nmutating: {mutating}\nsteps:\n"
        + textwrap.indent(step.example, "  ")
        + "\n"
    )
    playbook, problems = check_playbook(path, default_registry())
    assert problems == [], [str(p) for p in problems]
    assert playbook is not None
    assert [s.uses for s in playbook.steps] == [step.name]
