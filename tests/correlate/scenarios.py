"""Recorded incident scenarios: a run's step results (as ``triagebot run --format json`` prints
them), the alarm, the time of the run, and the lines the correlator must write for them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.alarms.model import Alarm, AlarmSource
from bot.render.text import to_plain
from bot.results import (
    AwsIssue,
    Change,
    Evidence,
    EvidenceKind,
    Finding,
    Searched,
    Severity,
    Status,
    StepResult,
    Symptom,
)

FOLDER = Path(__file__).resolve().parent / "scenarios"


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    alarm: Alarm | None
    now: datetime
    steps: tuple[StepResult, ...]
    expected: tuple[str, ...]


def all_scenarios() -> list[Scenario]:
    return [load(path) for path in sorted(FOLDER.glob("*.json"))]


def load(path: Path) -> Scenario:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Scenario(
        name=path.stem,
        about=data["about"],
        alarm=_alarm(data["alarm"]) if data.get("alarm") else None,
        now=datetime.fromisoformat(data["now"]),
        steps=tuple(_step(s) for s in data["run"]["steps"]),
        expected=tuple(data["expected"]),
    )


def record(
    about: str,
    alarm: Alarm | None,
    now: datetime,
    steps: tuple[StepResult, ...],
    expected: list[str],
) -> dict[str, Any]:
    """A scenario as JSON (what ``load`` reads back), the steps as ``render_json`` has them."""
    plain_alarm = None
    if alarm is not None:
        plain_alarm = {
            k: v
            for k, v in to_plain(alarm).items()
            if v not in ("", None, {}) and k in _ALARM_FIELDS
        }
    return {
        "about": about,
        "alarm": plain_alarm,
        "now": now.isoformat(),
        "run": {"steps": [_plain_step(s) for s in steps]},
        "expected": expected,
    }


_ALARM_FIELDS = frozenset(
    {"source", "name", "state", "region", "account", "changed_at", "namespace", "metric_name"}
    | {"dimensions", "service", "reason"}
)


def _plain_step(step: StepResult) -> dict[str, Any]:
    plain: dict[str, Any] = to_plain(step)
    return {k: plain[k] for k in ("step_id", "uses", "status", "summary", "findings", "evidence")}


def _alarm(data: dict[str, Any]) -> Alarm:
    fields = dict(data)
    fields["source"] = AlarmSource(fields.get("source", "alarm"))
    if fields.get("changed_at"):
        fields["changed_at"] = datetime.fromisoformat(fields["changed_at"])
    return Alarm(**fields)


def _step(data: dict[str, Any]) -> StepResult:
    return StepResult(
        step_id=data["step_id"],
        uses=data["uses"],
        status=Status(data["status"]),
        summary=data.get("summary", ""),
        findings=tuple(
            Finding(f["text"], Severity(f.get("severity", "info")))
            for f in data.get("findings", [])
        ),
        evidence=tuple(_evidence(e) for e in data.get("evidence", [])),
    )


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _evidence(data: dict[str, Any]) -> Evidence:
    """Evidence from its JSON form, told apart by its fields (JSON carries no type names)."""
    if "action" in data:
        return Change(
            at=datetime.fromisoformat(data["at"]),
            action=data["action"],
            resources=tuple(data.get("resources", ())),
            who=data.get("who", ""),
            detail=data.get("detail", ""),
            failed=data.get("failed", False),
        )
    if "what" in data:
        return Symptom(
            what=data["what"],
            resources=tuple(data.get("resources", ())),
            since=_when(data.get("since")),
            service=data.get("service", ""),
        )
    if "event" in data:
        return AwsIssue(
            service=data["service"],
            region=data["region"],
            event=data["event"],
            since=_when(data.get("since")),
            status=data.get("status", "open"),
            category=data.get("category", "issue"),
        )
    return Searched(
        kind=EvidenceKind(data["kind"]),
        since=_when(data.get("since")),
        complete=data.get("complete", True),
    )
