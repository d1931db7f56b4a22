"""Why a step was skipped, in words: never the template text itself."""

from __future__ import annotations

from typing import Any

import pytest

from bot.playbooks.conditions import GENERIC, skip_reason

CONTEXT: dict[str, Any] = {
    "alarm": None,
    "params": {"log_group": None, "lookback": "1h", "mode": "fast"},
    "steps": {"targets": {"unhealthy": 0, "status": "ok", "names": []}},
    "now": None,
}


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (
            "{{ params.log_group and steps.targets.unhealthy > 0 }}",
            "skipped: the `log_group` parameter is not set",
        ),
        (
            "{{ params.lookback and steps.targets.unhealthy > 0 }}",
            "skipped: runs only when `unhealthy` from step `targets` is more than 0; it is 0",
        ),
        (
            "steps.targets.status == 'warn'",
            "skipped: runs only when `status` from step `targets` is `warn`; it is `ok`",
        ),
        ("{{ steps.targets.names }}", "skipped: `names` from step `targets` is empty"),
        ("{{ alarm }}", "skipped: runs only for an alarm, and this run has none"),
        (
            "not params.mode",
            "skipped: runs only when the `mode` parameter is not set; it is `fast`",
        ),
        ("{{ steps.targets.unhealthy > 0 or params.mode == 'slow' }}", GENERIC),
        ("{{ params.mode | length > 10 }}", GENERIC),
    ],
)
def test_a_false_condition_is_explained_in_words(when: str, reason: str) -> None:
    assert skip_reason(when, CONTEXT) == reason
    assert "{{" not in reason and "params." not in reason and "steps." not in reason
