"""Connect a run's findings: which change (or AWS issue) most likely caused the alarm.

A pure function over the step results and the alarm — no AWS, no Slack, no probabilities.
Steps mark what they saw as evidence (``bot.results``: a Change, a Symptom, an AwsIssue, and what
they Searched); this module only compares names and times:

- a change that touches a resource the alarm or a symptom names is a suspect; the closer it
  came before the alarm's start, the higher it ranks; a change that did not go through, or
  that came after the symptom began (or after the alarm), cannot be the cause;
- an open AWS Health issue for the alarm's service (or a symptom's) in its region is named as
  a possible cause on its own line;
- with no suspect at all it says so plainly, from what the steps searched.

At most three lines; each ends naming the steps whose findings it rests on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.alarms.model import Alarm, AlarmSource
from bot.resource_names import resource_keys, resource_name, resource_phrase
from bot.results import (
    AwsIssue,
    Change,
    EvidenceKind,
    Searched,
    Status,
    StepResult,
    Symptom,
)

MAX_LINES = 3
_SAME_CHANGE = timedelta(minutes=5)  # a change's record and its deployment's start, apart
_CAUSE_CATEGORIES = frozenset({"issue", "investigation"})
# CloudWatch namespaces → the service names AWS Health uses.
HEALTH_SERVICES = {
    "AWS/ApplicationELB": "ELASTICLOADBALANCING",
    "AWS/NetworkELB": "ELASTICLOADBALANCING",
    "AWS/ELB": "ELASTICLOADBALANCING",
    "AWS/EC2": "EC2",
    "AWS/AutoScaling": "EC2",
    "AWS/Lambda": "LAMBDA",
    "AWS/ECS": "ECS",
    "ECS/ContainerInsights": "ECS",
    "AWS/RDS": "RDS",
    "AWS/DynamoDB": "DYNAMODB",
    "AWS/SQS": "SQS",
    "AWS/SNS": "SNS",
    "AWS/ApiGateway": "APIGATEWAY",
    "AWS/CloudFront": "CLOUDFRONT",
    "AWS/Route53": "ROUTE53",
    "AWS/S3": "S3",
    "AWS/ElastiCache": "ELASTICACHE",
    "AWS/Kinesis": "KINESIS",
}


# Alarm dimensions whose values are bare names → what the name is of.
_DIMENSION_KINDS = {
    "FunctionName": "function",
    "ServiceName": "service",
    "ClusterName": "cluster",
    "AutoScalingGroupName": "Auto Scaling group",
    "DBInstanceIdentifier": "database",
    "DBClusterIdentifier": "database cluster",
    "TableName": "table",
    "QueueName": "queue",
    "TopicName": "topic",
    "BucketName": "bucket",
    "ApiName": "API",
    "StateMachineArn": "state machine",
    "CacheClusterId": "cache cluster",
}


@dataclass(frozen=True)
class Line:
    """One sentence of the verdict and the steps whose findings it rests on."""

    text: str
    rests_on: tuple[str, ...]


@dataclass(frozen=True)
class _Seen:
    """A piece of evidence and the step that found it."""

    step_id: str
    item: Change | Symptom | AwsIssue | Searched


def correlate(
    steps: Sequence[StepResult], alarm: Alarm | None, *, now: datetime
) -> tuple[Line, ...]:
    """The suspects of a run, most likely first (at most three lines), or the plain statement
    that there is none; empty when no step looked for changes or AWS issues."""
    seen = [
        _Seen(s.step_id, item)
        for s in steps
        if s.status in (Status.OK, Status.WARN)
        for item in s.evidence
    ]
    start = alarm.changed_at if alarm is not None and alarm.changed_at else now
    anchor = "the alarm" if alarm is not None and alarm.changed_at else "this run"
    symptoms: list[tuple[str, Symptom]] = [
        (e.step_id, e.item) for e in seen if isinstance(e.item, Symptom)
    ]
    changes: list[tuple[str, Change]] = [
        (e.step_id, e.item) for e in seen if isinstance(e.item, Change)
    ]
    issues = [
        (step_id, issue)
        for step_id, issue in _dedupe_issues(seen)
        if _is_cause(issue, alarm, symptoms)
    ]
    searched: list[tuple[str, Searched]] = [
        (e.step_id, e.item) for e in seen if isinstance(e.item, Searched)
    ]

    alarm_keys = _alarm_keys(alarm)
    suspects, late = _suspects(changes, symptoms, alarm_keys, start)
    lines: list[Line] = []
    issue_lines = _issue_lines(issues, start, anchor)
    room = MAX_LINES - len(issue_lines)
    kinds = _named_kinds(alarm)
    for rank, suspect in enumerate(suspects[:room]):
        lines.append(_change_line(rank, suspect, start, anchor, kinds))
    lines.extend(issue_lines)
    if not suspects:
        nothing = _nothing_line(searched, issues, changes, late, now)
        if nothing is not None and len(lines) < MAX_LINES:
            lines.append(nothing)
    return tuple(lines[:MAX_LINES])


def likely_lines(
    steps: Sequence[StepResult], alarm: Alarm | None, *, now: datetime
) -> tuple[str, ...]:
    """``correlate``'s lines as text, for the renderers (``run_blocks(likely=…)``)."""
    return tuple(line.text for line in correlate(steps, alarm, now=now))


# --- changes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Suspect:
    step_id: str
    change: Change
    resource: str  # the resource of the change that the alarm or the symptom names
    symptom: tuple[str, Symptom] | None
    earlier: tuple[str, ...] = ()  # the same principal's earlier calls on that resource
    also_from: tuple[str, ...] = ()  # other steps that saw the same change


def _suspects(
    changes: list[tuple[str, Change]],
    symptoms: list[tuple[str, Symptom]],
    alarm_keys: frozenset[str],
    start: datetime,
) -> tuple[list[_Suspect], int]:
    """Changes that could have caused it, closest before the alarm first, each with the symptom
    it touches (if any); and how many touched those resources only after the trouble began.
    One principal's calls on one resource make one suspect."""
    found: list[_Suspect] = []
    late = 0
    for step_id, change in sorted(changes, key=lambda c: start - c[1].at):
        if change.failed:
            continue
        keys = _keys(change.resources)
        touched = [(sid, s) for sid, s in symptoms if keys & _keys(s.resources)]
        if not touched and not keys & alarm_keys:
            continue
        cutoff = min([start, *(s.since for _, s in touched if s.since is not None)])
        if change.at > cutoff:
            late += 1  # after the symptom began (or after the alarm): not its cause
            continue
        symptom = touched[0] if touched else _alarm_symptom(symptoms, alarm_keys)
        wanted = alarm_keys | (_keys(symptom[1].resources) if symptom else frozenset())
        resource = next(
            (r for r in change.resources if resource_keys(r) & wanted), change.resources[0]
        )
        same = next((i for i, s in enumerate(found) if _same_hand(s, change, resource)), None)
        if same is None:
            found.append(_Suspect(step_id, change, resource, symptom))
        else:
            found[same] = _merged(found[same], step_id, change)
    return found, late


def _same_hand(suspect: _Suspect, change: Change, resource: str) -> bool:
    """One principal's calls on one resource; or one change seen twice, once with its author
    (CloudTrail) and once without (a deployment listing), at about the same time."""
    if resource_name(suspect.resource) != resource_name(resource):
        return False
    if suspect.change.who == change.who:
        return True
    one_unknown = not suspect.change.who or not change.who
    return one_unknown and abs(suspect.change.at - change.at) <= _SAME_CHANGE


def _merged(suspect: _Suspect, step_id: str, change: Change) -> _Suspect:
    if suspect.change.who and change.who:  # the same principal again, earlier
        if change.action in (suspect.change.action, *suspect.earlier):
            return suspect
        return replace(suspect, earlier=(*suspect.earlier, change.action))
    known, other = (suspect.change, change) if suspect.change.who else (change, suspect.change)
    detail = ", ".join(d for d in (known.detail, other.action, other.detail) if d)
    steps = (suspect.step_id, step_id) if suspect.step_id != step_id else (step_id,)
    return replace(suspect, change=replace(known, detail=detail), also_from=steps[1:])


def _alarm_symptom(
    symptoms: list[tuple[str, Symptom]], alarm_keys: frozenset[str]
) -> tuple[str, Symptom] | None:
    """For a change to the alarm's own resources: a symptom on those resources, if any."""
    for step_id, symptom in symptoms:
        if _keys(symptom.resources) & alarm_keys:
            return step_id, symptom
    return None


def _named_kinds(alarm: Alarm | None) -> dict[str, str]:
    """Bare names in the alarm's dimensions and what they name (``checkout`` → function)."""
    if alarm is None:
        return {}
    return {v: _DIMENSION_KINDS[k] for k, v in alarm.dimensions.items() if k in _DIMENSION_KINDS}


def _change_line(
    rank: int, suspect: _Suspect, start: datetime, anchor: str, kinds: dict[str, str]
) -> Line:
    change = suspect.change
    what = resource_phrase(suspect.resource)
    name = resource_name(suspect.resource)
    if what.startswith("`") and name in kinds:
        what = f"{kinds[name]} {what}"
    how = ", ".join(part for part in (change.action, change.detail) if part)
    if suspect.earlier:
        how += f"; before it {', '.join(suspect.earlier)}"
    if change.who:
        text = f"`{change.who}` changed {what} ({how})"
    else:
        text = f"{what[:1].upper()}{what[1:]} changed ({how})"
    lead = "Likely" if rank == 0 else "Also possible"
    text = f"{lead}: {text} {_before(start - change.at)} {anchor}"
    rests = [suspect.step_id, *suspect.also_from]
    if suspect.symptom is not None:
        text += f"; since then {suspect.symptom[1].what}"
        rests.append(suspect.symptom[0])
    return _line(text, rests)


def _before(gap: timedelta) -> str:
    if gap < timedelta(minutes=1):
        return "less than a minute before"
    return f"{span(gap)} before"


def span(value: timedelta) -> str:
    """``18 min``, ``2 h``, ``1 h 30 min``, ``3 d`` — minutes rounded to the nearest."""
    minutes = round(value.total_seconds() / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"{round(hours / 24)} d"
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


# --- AWS issues --------------------------------------------------------------------------------


def _dedupe_issues(seen: list[_Seen]) -> list[tuple[str, AwsIssue]]:
    """Each Health event once, even when two steps listed it."""
    unique: dict[tuple[str, str, str], tuple[str, AwsIssue]] = {}
    for e in seen:
        if isinstance(e.item, AwsIssue):
            unique.setdefault((e.item.service, e.item.region, e.item.event), (e.step_id, e.item))
    return list(unique.values())


def _is_cause(issue: AwsIssue, alarm: Alarm | None, symptoms: list[tuple[str, Symptom]]) -> bool:
    if issue.status != "open" or issue.category not in _CAUSE_CATEGORIES:
        return False
    if alarm is not None and alarm.region and issue.region not in (alarm.region, "global"):
        return False
    services = _services(alarm, symptoms)
    return not services or issue.service.upper() in services


def _services(alarm: Alarm | None, symptoms: list[tuple[str, Symptom]]) -> set[str]:
    services = {s.service.upper() for _, s in symptoms if s.service}
    if alarm is not None:
        if alarm.source == AlarmSource.HEALTH and alarm.service:
            services.add(alarm.service.upper())
        if alarm.namespace in HEALTH_SERVICES:
            services.add(HEALTH_SERVICES[alarm.namespace])
    return services


def _issue_lines(issues: list[tuple[str, AwsIssue]], start: datetime, anchor: str) -> list[Line]:
    if not issues:
        return []
    issues = sorted(issues, key=lambda i: i[1].since or start, reverse=True)
    step_id, issue = issues[0]
    text = f"Possible: an open AWS issue, {issue.event}, for {issue.service} in {issue.region}"
    if issue.since is not None:
        text += f" since {issue.since:%H:%M} UTC"
        if issue.since <= start:
            text += f", {span(start - issue.since)} before {anchor}"
    if len(issues) > 1:
        more = len(issues) - 1
        text += f" (and {more} more open AWS issue{'s' if more > 1 else ''})"
    return [_line(text, [step_id, *(sid for sid, _ in issues[1:])])]


# --- nothing found -----------------------------------------------------------------------------


def _nothing_line(
    searched: list[tuple[str, Searched]],
    issues: list[tuple[str, AwsIssue]],
    changes: list[tuple[str, Change]],
    late: int,
    now: datetime,
) -> Line | None:
    """ "No change in the last 2 h touches these resources; AWS Health is clear." — saying only
    what the steps looked at."""
    looked = [(sid, s) for sid, s in searched if s.kind is EvidenceKind.CHANGES]
    health = [(sid, s) for sid, s in searched if s.kind is EvidenceKind.HEALTH]
    parts: list[str] = []
    rests: list[str] = []
    if looked:
        since = min((s.since for _, s in looked if s.since is not None), default=None)
        window = f" in the last {span(now - since)}" if since is not None else ""
        others = len([c for _, c in changes if not c.failed])
        if late:
            text = f"no change{window} touched these resources before the trouble began"
            text += f" ({late} did after)"
        elif others:
            text = f"none of the {others} change{'s' if others != 1 else ''}{window} touches"
        else:
            text = f"no change{window} touches"
        if not late:
            text += " these resources"
        if not all(s.complete for _, s in looked):
            text += " as far as was read"
        parts.append(text)
        rests.extend(sid for sid, _ in looked)
    if health and not issues:
        if all(s.complete for _, s in health):
            parts.append("AWS Health is clear")
        else:
            parts.append("AWS Health could not be checked")
        rests.extend(sid for sid, _ in health)
    if not parts:
        return None
    text = "; ".join(parts)
    return _line(text[:1].upper() + text[1:], rests)


# --- shared ------------------------------------------------------------------------------------


def _alarm_keys(alarm: Alarm | None) -> frozenset[str]:
    if alarm is None:
        return frozenset()
    names = [*alarm.dimensions.values()]
    if alarm.source == AlarmSource.ALARM and alarm.name:
        names.append(alarm.name)
    return _keys(names)


def _keys(resources: Iterable[str]) -> frozenset[str]:
    return frozenset(k for r in resources for k in resource_keys(r))


def _line(text: str, rests_on: Iterable[str]) -> Line:
    steps = tuple(dict.fromkeys(rests_on))
    named = ", ".join(f"`{s}`" for s in steps)
    return Line(text=f"{text} — from {named}.", rests_on=steps)
