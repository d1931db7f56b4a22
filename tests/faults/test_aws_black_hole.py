"""AWS calls are bounded: an endpoint that accepts connections and never answers costs a step
its timeout and no more, the CLI exits right after the deadline, and once the endpoint
recovers the next run succeeds at once (no thread pool left starved by abandoned calls)."""

from __future__ import annotations

import asyncio
import gc
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bot.aws import AwsClients
from bot.config import AwsSettings
from bot.errors import StepError
from bot.executor import Executor
from bot.playbooks.schema import Playbook
from bot.results import Status
from bot.steps import default_registry
from bot.timings import Timings
from tests.support.hung_aws import HungAws

ROOT = Path(__file__).resolve().parents[2]
# Far longer than every deadline below: what bounds a call is its deadline, not this. The time
# limits asserted sit between the deadline and this (the failure they catch is waiting for
# it), with room for a loaded machine.
PATIENT = Timings(aws_read_timeout=timedelta(seconds=60))


def whoami_book(count: int, *, step_timeout: str, timeout: str = "1m") -> Playbook:
    steps = [
        {"id": f"me{i}", "uses": "sts.caller_identity", "timeout": step_timeout}
        for i in range(count)
    ]
    return Playbook.model_validate({"name": "whoami", "timeout": timeout, "steps": steps})


async def test_a_call_under_a_deadline_ends_at_the_deadline(hung_aws: HungAws) -> None:
    aws = AwsClients(AwsSettings(), endpoint_url=hung_aws.url, timings=PATIENT)
    aws.client("sts", aws.target())  # built first: on a busy machine that alone can take 0.5 s
    started = time.monotonic()
    try:
        with aws.deadline(0.5), pytest.raises(StepError) as caught:
            await aws.call("sts", "get_caller_identity", aws.target())
    finally:
        aws.close()
    elapsed = time.monotonic() - started
    assert 0.45 < elapsed < 10, f"took {elapsed:.2f}s for a 0.5 s deadline"
    assert "`sts:GetCallerIdentity` got no answer from AWS in time" in caught.value.user_message
    assert hung_aws.accepted == 1, "no retry was started past the deadline"


async def test_steps_time_out_at_their_deadline_and_a_run_after_recovery_succeeds_at_once(
    hung_aws: HungAws,
) -> None:
    # Fewer threads than steps: abandoned calls must not keep the next run waiting.
    aws = AwsClients(AwsSettings(), endpoint_url=hung_aws.url, timings=PATIENT, max_workers=2)
    executor = Executor(default_registry(), aws)
    try:
        started = time.monotonic()
        hung = await executor.run(whoami_book(4, step_timeout="0.5s"), {})
        took = time.monotonic() - started
        assert [s.status for s in hung.steps] == [Status.TIMEOUT] * 4
        assert {s.summary for s in hung.steps} == {"timed out after 0.5s"}
        assert took < 10, f"4 steps of 0.5 s took {took:.2f}s"

        hung_aws.recover()
        started = time.monotonic()
        healthy = await executor.run(whoami_book(4, step_timeout="10s"), {})
        took = time.monotonic() - started
    finally:
        aws.close()
    assert [s.status for s in healthy.steps] == [Status.OK] * 4, healthy.steps
    assert healthy.steps[0].data["account"] == "123456789012"
    assert took < 10, f"the run after recovery took {took:.2f}s"


async def test_a_call_given_up_on_leaves_its_thread_to_finish_and_new_calls_run(
    hung_aws: HungAws,
) -> None:
    # No deadline here: the caller just stops waiting. The call keeps its thread until its
    # 30 s read timeout; with one worker, the next call must not wait for that.
    slow = Timings(aws_read_timeout=timedelta(seconds=30))
    aws = AwsClients(AwsSettings(), endpoint_url=hung_aws.url, timings=slow, max_workers=1)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(aws.call("sts", "get_caller_identity", aws.target()), 0.3)
        hung_aws.recover()
        started = time.monotonic()
        identity = await aws.call("sts", "get_caller_identity", aws.target())
        took = time.monotonic() - started
    finally:
        aws.close()
    assert identity["Account"] == "123456789012"
    assert took < 10, f"the next call waited {took:.2f}s for the abandoned one"


def test_the_black_hole_closes_every_connection_it_holds_or_pipes_when_stopped(
    moto_url: str,
) -> None:
    # A socket left open is a ResourceWarning when it is collected, failing whichever test
    # runs then (warnings are errors): it once failed a test far from this module.
    server = HungAws(moto_url)
    server.start()
    with socket.create_connection(("127.0.0.1", server.port)) as held:
        held.sendall(b"POST / HTTP/1.1\r\n")  # hung
        server.recover()
        with socket.create_connection(("127.0.0.1", server.port)) as piped:
            piped.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # kept alive upstream
            piped.recv(1)
            server.stop()
    gc.collect()  # an unclosed socket of the server's would be reported here


async def test_a_long_poll_may_wait_longer_than_the_read_timeout(moto_url: str) -> None:
    import boto3

    queue_url = boto3.client("sqs", endpoint_url=moto_url).create_queue(QueueName="q")["QueueUrl"]
    quick = Timings(aws_read_timeout=timedelta(seconds=0.5))
    aws = AwsClients(AwsSettings(), endpoint_url=moto_url, timings=quick)
    try:
        answer = await aws.call(
            "sqs", "receive_message", aws.target(), QueueUrl=queue_url, WaitTimeSeconds=1
        )
    finally:
        aws.close()
    assert answer.get("Messages", []) == []


def run_cli(playbook: Path, endpoint: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", str(playbook)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_env(), "AWS_ENDPOINT_URL": endpoint},
        cwd=ROOT,
    )
    return done, time.monotonic() - started


def test_the_cli_prints_the_timeouts_and_exits_right_after_the_deadline(
    hung_aws: HungAws, moto_url: str, tmp_path: Path
) -> None:
    playbook = tmp_path / "hung.yaml"
    playbook.write_text(
        "name: hung\ntimeout: 3s\nsteps:\n"
        "  - id: me\n    uses: sts.caller_identity\n    timeout: 2s\n"
        "  - id: alarms\n    uses: cloudwatch.alarms\n    timeout: 20s\n"
    )
    healthy, baseline = run_cli(playbook, moto_url)  # the same command when AWS answers
    assert healthy.returncode == 0, healthy.stderr

    done, elapsed = run_cli(playbook, hung_aws.url)
    assert done.returncode == 0, done.stderr
    assert "timed out after 2s" in done.stdout, done.stdout
    # The second step ends at the playbook's deadline: as the executor's timeout or, when the
    # call's own deadline inside botocore fires a moment first, as no answer in time.
    assert (
        "the playbook's 3s deadline passed" in done.stdout
        or "`cloudwatch:DescribeAlarms` got no answer from AWS in time" in done.stdout
    ), done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert elapsed - baseline < 3 + 2, (
        f"exited {elapsed - baseline:.1f}s later than a healthy run, for a 3 s deadline"
    )


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


async def test_sigterm_in_serve_finishes_within_the_drain_while_aws_hangs(
    hung_aws: HungAws, tmp_path: Path
) -> None:
    import aiohttp

    from bot.demo.moto_server import free_port
    from bot.demo.slack_api import FakeSlackApi
    from bot.demo.slack_requests import signed_headers, slash_command_body
    from bot.timings import DEFAULTS
    from tests.support.serve_process import ServeProcess

    books = tmp_path / "playbooks"
    books.mkdir()
    (books / "hang.yaml").write_text(
        "name: hang\ntimeout: 1m\nsteps:\n"
        + "".join(
            f"  - id: me{i}\n    uses: sts.caller_identity\n    timeout: 3s\n" for i in range(40)
        )
    )
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[slack]\ndefault_channel = "C0HANG"\n[server]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[playbooks]\ndirs = ["{books}"]\n'
    )
    slack = FakeSlackApi()
    await slack.start()
    secret = "hang-test-secret"
    env = {
        **_env(),
        "SLACK_BOT_TOKEN": "xoxb-hang-test",
        "SLACK_SIGNING_SECRET": secret,
        "SLACK_API_URL": slack.base_url,
        "AWS_ENDPOINT_URL": hung_aws.url,
    }
    server = ServeProcess(config, port, env, tmp_path / "serve.log")
    try:
        await server.start()
        body = slash_command_body("hang", user="U0HANG", channel="C0HANG")
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{server.url}/slack/events",
                data=body,
                headers={
                    **signed_headers(body, secret),
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            ) as response,
        ):
            assert response.status == 200
        deadline = time.monotonic() + 30
        while hung_aws.hung < 32 and time.monotonic() < deadline:  # every AWS thread stuck
            await asyncio.sleep(0.05)
        assert hung_aws.hung >= 32, server.log_text()
        started = time.monotonic()
        code = await asyncio.to_thread(server.stop, 60.0)
        took = time.monotonic() - started
    finally:
        server.stop()
        await slack.stop()
    assert code == 0, server.log_text()
    drain = DEFAULTS.drain.total_seconds()
    assert took < drain, f"SIGTERM took {took:.1f}s (drain {drain:.0f}s)"
