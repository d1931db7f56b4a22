from __future__ import annotations

import asyncio
import time

import boto3
import pytest

from bot.alarms.model import Alarm, AlarmSource
from bot.aws import AwsClients, CallStats, RateLimiter
from bot.config import AwsAccount, AwsSettings
from bot.errors import StepError
from bot.executor import Executor
from bot.playbooks.schema import Playbook
from bot.results import Status, StepResult
from bot.steps import default_registry
from tests.support.aws_hooks import AwsFault, fake_operation
from tests.support.aws_proxy import SlowAws


async def test_throttled_call_is_retried_and_the_attempts_counted(slow_aws: SlowAws) -> None:
    aws = AwsClients(AwsSettings(), endpoint_url=slow_aws.url)
    slow_aws.throttle("GetCallerIdentity", 2)
    stats = CallStats()
    identity = await aws.call("sts", "get_caller_identity", aws.target(), stats)
    aws.close()
    assert identity["Account"] == "123456789012"
    assert (stats.attempts, stats.retries) == (3, 2)
    assert slow_aws.calls["GetCallerIdentity"] == 3


async def test_throttling_gives_up_after_five_attempts_with_a_clear_error(
    slow_aws: SlowAws,
) -> None:
    aws = AwsClients(AwsSettings(), endpoint_url=slow_aws.url)
    slow_aws.throttle("GetCallerIdentity", 10)
    with pytest.raises(StepError) as caught:
        await aws.call("sts", "get_caller_identity", aws.target())
    aws.close()
    assert slow_aws.calls["GetCallerIdentity"] == 5
    assert "sts:GetCallerIdentity" in caught.value.user_message
    assert "Throttling" in caught.value.user_message


async def test_calls_run_concurrently_off_the_event_loop(slow_aws: SlowAws) -> None:
    slow_aws.delay = 0.3
    aws = AwsClients(AwsSettings(), endpoint_url=slow_aws.url)
    await aws.call("sts", "get_caller_identity", aws.target())  # build the client once
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick = asyncio.create_task(ticker())
    started = time.monotonic()
    await asyncio.gather(*(aws.call("sts", "get_caller_identity", aws.target()) for _ in range(12)))
    elapsed = time.monotonic() - started
    tick.cancel()
    aws.close()
    # One after another: at least 3.6 s; overlapping, about 0.3 s.
    assert elapsed < 0.3 * 12 * 0.9, f"12 calls of 0.3 s should overlap (took {elapsed:.2f}s)"
    assert ticks >= 10, "the event loop kept running while AWS answered"


def test_access_denied_names_the_action_and_the_principal(session: boto3.Session) -> None:
    message = (
        "User: arn:aws:sts::123456789012:assumed-role/triage/bot is not authorized to perform: "
        "elasticloadbalancing:DescribeLoadBalancers"
    )
    fake_operation(
        session, "elbv2", "DescribeLoadBalancers", AwsFault("AccessDenied", message, 403)
    )
    aws = AwsClients(AwsSettings(), session_factory=lambda: session)

    with pytest.raises(StepError) as caught:
        asyncio.run(aws.call("elbv2", "describe_load_balancers", aws.target()))
    aws.close()
    assert caught.value.user_message == (
        "Access denied: arn:aws:sts::123456789012:assumed-role/triage/bot may not call "
        "`elasticloadbalancing:DescribeLoadBalancers`. "
        "Add `elasticloadbalancing:DescribeLoadBalancers` to its IAM policy "
        "(`triagebot iam-policy` prints the whole policy)."
    )


def test_cloudtrail_lookups_are_paced_to_two_per_second(session: boto3.Session) -> None:
    fake_operation(session, "cloudtrail", "LookupEvents", {"Events": []})
    aws = AwsClients(AwsSettings(), session_factory=lambda: session)

    async def five_lookups() -> float:
        started = time.monotonic()
        target = aws.target()
        await asyncio.gather(*(aws.call("cloudtrail", "lookup_events", target) for _ in range(5)))
        return time.monotonic() - started

    elapsed = asyncio.run(five_lookups())
    aws.close()
    assert elapsed >= 1.9, f"5 LookupEvents at 2/s need at least 2 s, took {elapsed:.2f}s"


async def test_rate_limiter_spaces_acquisitions() -> None:
    limiter = RateLimiter(20.0)
    started = time.monotonic()
    for _ in range(5):
        await limiter.acquire()
    assert time.monotonic() - started >= 0.19


def test_other_accounts_are_reached_through_assume_role(aws: None) -> None:
    role = "arn:aws:iam::111122223333:role/triagebot-read"
    settings = AwsSettings(accounts=(AwsAccount(name="prod", role_arn=role),))
    clients = AwsClients(settings, session_factory=lambda: boto3.Session(region_name="us-east-1"))
    identity = asyncio.run(
        clients.call("sts", "get_caller_identity", clients.target(account="prod"))
    )
    own = asyncio.run(clients.call("sts", "get_caller_identity", clients.target()))
    clients.close()
    assert identity["Account"] == "111122223333"
    assert ":assumed-role/triagebot-read/triagebot" in identity["Arn"]
    assert own["Account"] == "123456789012"


def test_unknown_account_is_a_clear_error(session: boto3.Session) -> None:
    aws = AwsClients(AwsSettings(), session_factory=lambda: session)
    with pytest.raises(StepError, match="no AWS account `staging`"):
        asyncio.run(aws.call("sts", "get_caller_identity", aws.target(account="staging")))
    aws.close()


def _whoami(clients: AwsClients, account_id: str) -> StepResult:
    """``sts.caller_identity`` run for an alarm raised in ``account_id`` (a generous timeout:
    this checks which credentials the step gets, not how fast)."""
    playbook = Playbook.model_validate(
        {"name": "whoami", "steps": [{"id": "me", "uses": "sts.caller_identity", "timeout": 60}]}
    )
    alarm = Alarm(source=AlarmSource.ALARM, name="x", account=account_id, region="us-east-1")
    result = asyncio.run(Executor(default_registry(), clients).run(playbook, {}, alarm=alarm))
    return result.steps[0]


def test_an_alarm_from_another_account_runs_with_that_accounts_role(aws: None) -> None:
    role = "arn:aws:iam::111122223333:role/triagebot-read"
    settings = AwsSettings(accounts=(AwsAccount(name="prod", role_arn=role),))
    clients = AwsClients(settings, session_factory=lambda: boto3.Session(region_name="us-east-1"))
    theirs = _whoami(clients, "111122223333")
    ours = _whoami(clients, "999")
    clients.close()
    assert (theirs.status, theirs.data.get("account")) == (Status.OK, "111122223333"), theirs
    assert (ours.status, ours.data.get("account")) == (Status.OK, "123456789012"), ours


def test_a_role_that_refuses_the_bot_is_a_step_error_naming_it(
    session: boto3.Session, caplog: pytest.LogCaptureFixture
) -> None:
    role = "arn:aws:iam::111122223333:role/triagebot-read"
    message = (
        "User: arn:aws:sts::123456789012:assumed-role/triage/bot is not authorized to perform: "
        f"sts:AssumeRole on resource: {role}"
    )
    fake_operation(session, "sts", "AssumeRole", AwsFault("AccessDenied", message, 403))
    settings = AwsSettings(accounts=(AwsAccount(name="prod", role_arn=role),))
    clients = AwsClients(settings, session_factory=lambda: session)
    step = _whoami(clients, "111122223333")
    with pytest.raises(StepError) as caught:  # a paginated call builds its client the same way
        asyncio.run(clients.paginate("ec2", "describe_instances", clients.target(account="prod")))
    clients.close()
    said = (
        f"Could not assume `{role}` (account `prod`): AccessDenied: {message}. The role's trust "
        "policy must let the bot's own role assume it, and the bot's role needs `sts:AssumeRole` "
        "on it."
    )
    assert (step.status, step.summary) == (Status.ERROR, said)
    assert caught.value.user_message == said
    assert "crashed" not in caplog.text


async def test_a_5xx_web_page_is_retried_then_said_in_one_sentence() -> None:
    from tests.support.page_aws import PageAws

    page = PageAws(status=502)
    page.start()
    aws = AwsClients(AwsSettings(), endpoint_url=page.url, max_attempts=2)
    try:
        with pytest.raises(StepError) as caught:
            await aws.call("sts", "get_caller_identity", aws.target())
    finally:
        aws.close()
        page.stop()
    assert page.requests == 2, "a 5xx page is worth botocore's retry"
    assert caught.value.user_message == (
        "`sts:GetCallerIdentity` failed: AWS answered with something that is not its API "
        f"format: HTTP 502 from 127.0.0.1:{page.port} (a web page)."
    )


async def test_a_reply_botocore_cannot_parse_is_a_step_error_not_a_crash() -> None:
    from bot.executor import Executor
    from bot.playbooks.schema import Playbook
    from bot.results import Status
    from bot.steps import default_registry
    from tests.support.page_aws import PageAws

    page = PageAws(status=200, body="all good!", content_type="text/plain")
    page.start()
    aws = AwsClients(AwsSettings(), endpoint_url=page.url)
    book = Playbook.model_validate(
        {"name": "whoami", "steps": [{"id": "me", "uses": "sts.caller_identity"}]}
    )
    try:
        run = await Executor(default_registry(), aws).run(book, {})
    finally:
        aws.close()
        page.stop()
    [me] = run.steps
    assert me.status is Status.ERROR
    assert me.summary == (
        "`sts:GetCallerIdentity` failed: AWS answered with something that is not its API "
        f"format: HTTP 200 from 127.0.0.1:{page.port}."
    )
