"""The correlator's rules one at a time, on small hand-made runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.alarms.model import Alarm, AlarmSource
from bot.correlate import likely_lines, span
from bot.resource_names import resource_keys, resource_phrase
from bot.results import (
    AwsIssue,
    Change,
    Evidence,
    EvidenceKind,
    Searched,
    Status,
    StepResult,
    Symptom,
)

T = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/73e2d6bc24d8a067"
ALARM = Alarm(
    source=AlarmSource.ALARM,
    name="web-5xx",
    region="us-east-1",
    changed_at=T,
    namespace="AWS/ApplicationELB",
    dimensions={"LoadBalancer": "app/web/50dc6c495c0c9188"},
)
TARGETS = Symptom("3 of 3 targets fail health checks by timing out", (TG, "web-tg"))


def step(step_id: str, *evidence: Evidence, status: Status = Status.OK) -> StepResult:
    return StepResult(step_id=step_id, uses="x.y", status=status, evidence=evidence)


def change(
    minutes_before: float, resource: str = TG, who: str = "ci/deploy", **extra: object
) -> Change:
    return Change(
        at=T - timedelta(minutes=minutes_before),
        action=str(extra.pop("action", "ModifyTargetGroup")),
        resources=(resource,),
        who=who,
        **extra,  # type: ignore[arg-type]
    )


def lines(*steps: StepResult, alarm: Alarm | None = ALARM) -> tuple[str, ...]:
    return likely_lines(steps, alarm, now=T + timedelta(minutes=1))


def test_a_change_to_a_symptoms_resource_ranks_above_closer_ones_elsewhere() -> None:
    found = lines(
        step("targets", TARGETS),
        step("changes", change(30), change(2, "reports-bucket", who="etl", action="PutObject")),
    )
    assert found == (
        "Likely: `ci/deploy` changed target group `web-tg` (ModifyTargetGroup) 30 min before "
        "the alarm; since then 3 of 3 targets fail health checks by timing out — from "
        "`changes`, `targets`.",
    )


def test_closer_before_the_alarm_ranks_higher() -> None:
    found = lines(
        step("targets", TARGETS), step("changes", change(40, who="a"), change(5, who="b"))
    )
    assert [line.split(":", 1)[0] for line in found] == ["Likely", "Also possible"]
    assert found[0].startswith("Likely: `b` changed") and "5 min before" in found[0]
    assert found[1].startswith("Also possible: `a` changed") and "40 min before" in found[1]


def test_a_change_after_the_symptom_began_or_the_alarm_is_no_cause() -> None:
    began = Symptom("tasks stop", (TG,), since=T - timedelta(minutes=10))
    found = lines(
        step("targets", began),
        step("changes", Searched(EvidenceKind.CHANGES, since=T - timedelta(minutes=59)), change(4)),
    )
    assert found == (
        "No change in the last 1 h touched these resources before the trouble began "
        "(1 did after) — from `changes`.",
    )
    assert not any("Likely" in x for x in lines(step("t", TARGETS), step("c", change(-3))))


def test_a_failed_call_changed_nothing() -> None:
    failed = Change(
        at=T - timedelta(minutes=3), action="ModifyTargetGroup", resources=(TG,), failed=True
    )
    assert lines(step("targets", TARGETS), step("changes", failed)) == ()


def test_an_open_issue_for_the_alarms_service_and_region_is_named_on_its_own() -> None:
    issue = AwsIssue(
        "ELASTICLOADBALANCING", "us-east-1", "AWS_ELB_ISSUE", since=T - timedelta(minutes=20)
    )
    elsewhere = AwsIssue("ELASTICLOADBALANCING", "eu-west-1", "AWS_ELB_ISSUE_EU")
    other_service = AwsIssue("RDS", "us-east-1", "AWS_RDS_ISSUE")
    found = lines(
        step("targets", TARGETS),
        step("changes", change(8)),
        step("health", Searched(EvidenceKind.HEALTH), issue, elsewhere, other_service),
    )
    assert len(found) == 2 and found[0].startswith("Likely: ")
    assert found[1] == (
        "Possible: an open AWS issue, AWS_ELB_ISSUE, for ELASTICLOADBALANCING in us-east-1 since "
        "11:40 UTC, 20 min before the alarm — from `health`."
    )


def test_nothing_found_is_said_plainly_and_only_what_was_looked_at() -> None:
    searched = Searched(EvidenceKind.CHANGES, since=T + timedelta(minutes=1) - timedelta(hours=2))
    health = step("health", Searched(EvidenceKind.HEALTH))
    assert lines(step("changes", searched), health) == (
        "No change in the last 2 h touches these resources; AWS Health is clear — from "
        "`changes`, `health`.",
    )
    no_plan = step("health", Searched(EvidenceKind.HEALTH, complete=False))
    assert lines(no_plan) == ("AWS Health could not be checked — from `health`.",)
    assert lines(step("targets", TARGETS)) == ()  # nothing searched: nothing to say
    failed = step("changes", searched, status=Status.ERROR)
    assert lines(failed) == ()


def test_at_most_three_lines_and_no_alarm_reads_before_this_run() -> None:
    many = step("changes", *(change(m, who=f"p{m}") for m in (1, 2, 3, 4, 5)))
    issue = step("health", AwsIssue("ELASTICLOADBALANCING", "us-east-1", "AWS_ELB_ISSUE"))
    found = lines(step("targets", TARGETS), many, issue)
    assert len(found) == 3 and found[2].startswith("Possible: an open AWS issue")
    [alone] = likely_lines([step("targets", TARGETS), step("c", change(0))], None, now=T)
    assert "less than a minute before this run" in alone


def test_spans_read_as_people_say_them() -> None:
    assert [span(timedelta(minutes=m)) for m in (18, 60, 90, 24 * 60 * 3)] == [
        "18 min",
        "1 h",
        "1 h 30 min",
        "3 d",
    ]


def test_resources_are_matched_and_named_by_their_useful_end() -> None:
    assert resource_keys(TG) & resource_keys("targetgroup/web-tg/73e2d6bc24d8a067")
    assert resource_keys(TG) & resource_keys("web-tg")
    assert not resource_keys("arn:aws:lambda:us-east-1:1:function:checkout") & resource_keys(
        "web-tg"
    )
    assert resource_phrase(TG) == "target group `web-tg`"
    assert resource_phrase("arn:aws:ecs:us-east-1:1:service/prod/orders") == "service `orders`"
    assert resource_phrase("sg-0f3b2c1d9e8a7b654") == "security group `sg-0f3b2c1d9e8a7b654`"
    assert resource_phrase("app/web/50dc6c495c0c9188") == "load balancer `web`"
    assert resource_phrase("reports-bucket") == "`reports-bucket`"
