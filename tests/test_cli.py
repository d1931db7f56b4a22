"""The `triagebot` command as a user runs it: a subprocess, its exit code and its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.demo.seed import seed_incident
from tests.support.aws_proxy import SlowAws

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def triagebot(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd or ROOT,
    )


def test_run_alb_errors_prints_the_unhealthy_targets_with_reasons(moto_url: str) -> None:
    incident = seed_incident(moto_url)
    done = triagebot(
        "run",
        "alb-errors",
        "--param",
        f"load_balancer={incident.load_balancer}",
        env={"AWS_ENDPOINT_URL": moto_url},
    )
    assert done.returncode == 0, done.stderr
    stopped = incident.instances[0]
    assert (
        f"{stopped}:8080 in prod-web-tg is unused (Target.InvalidState: Target is in the stopped state)"
        in done.stdout
    )
    assert "ALB 5xx errors" in done.stdout and "load_balancer=prod-web" in done.stdout


def test_run_accepts_the_cloudwatch_dimension_form(moto_url: str) -> None:
    incident = seed_incident(moto_url)
    done = triagebot(
        "run",
        "alb-errors",
        "--param",
        f"load_balancer={incident.load_balancer_dimension}",
        "--format",
        "json",
        env={"AWS_ENDPOINT_URL": moto_url},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [targets] = [s for s in result["steps"] if s["step_id"] == "targets"]
    assert targets["data"]["by_state"] == {"healthy": 2, "unused": 1}


def test_run_with_an_alarm_file_takes_defaults_from_it(moto_url: str, tmp_path: Path) -> None:
    incident = seed_incident(moto_url)
    alarm = json.loads(
        (FIXTURES / "sns" / "http-notification-alarm-ec2-cpu-alarm.json").read_text()
    )
    message = json.loads(alarm["Message"])
    message["Trigger"]["Dimensions"] = [
        {"name": "LoadBalancer", "value": incident.load_balancer_dimension}
    ]
    message["AlarmArn"] = incident.alarm_arn
    message["Region"] = "US East (N. Virginia)"
    alarm["Message"] = json.dumps(message)
    path = tmp_path / "alarm.json"
    path.write_text(json.dumps(alarm))
    done = triagebot(
        "run",
        "alb-errors",
        "--alarm",
        str(path),
        "--format",
        "blocks",
        env={"AWS_ENDPOINT_URL": moto_url},
    )
    assert done.returncode == 0, done.stderr
    blocks = json.loads(done.stdout)
    assert blocks[0]["type"] == "header"
    assert incident.instances[0] in json.dumps(blocks), json.dumps(blocks, indent=1)


STACKS_PLAYBOOK = """\
name: stacks
title: Stack changes
steps:
  - id: deploys
    uses: cloudformation.stack_events
    with: {lookback: 2h}
"""


def test_run_prints_what_the_findings_point_at_first(moto_url: str, tmp_path: Path) -> None:
    playbook = tmp_path / "stacks.yaml"
    playbook.write_text(STACKS_PLAYBOOK)
    line = "No change in the last 2 h touches these resources — from `deploys`."
    env = {"AWS_ENDPOINT_URL": moto_url}

    text = triagebot("run", str(playbook), env=env)
    blocks = triagebot("run", str(playbook), "--format", "blocks", env=env)
    plain = triagebot("run", str(playbook), "--format", "json", env=env)

    assert text.returncode == blocks.returncode == plain.returncode == 0, text.stderr
    assert line in text.stdout
    assert text.stdout.index(line) < text.stdout.index("cloudformation.stack_events")
    header, about, first = json.loads(blocks.stdout)[:3]
    assert header["type"] == "header" and about["type"] == "context"
    assert first["text"]["text"] == f"🧭 {line}"
    assert json.loads(plain.stdout)["likely"] == [line]


def test_run_unknown_playbook_is_a_usage_error() -> None:
    done = triagebot("run", "alb-erors")
    assert done.returncode == 2
    assert "There is no playbook `alb-erors`. Did you mean `alb-errors`?" in done.stderr


def test_run_bad_param_is_a_usage_error() -> None:
    done = triagebot("run", "alb-errors", "--param", "nonsense")
    assert done.returncode == 2 and "should look like key=value" in done.stderr
    done = triagebot("run", "alb-errors", "--param", "lookback=soon", "--param", "load_balancer=x")
    assert done.returncode == 2 and "lookback" in done.stderr


def test_run_missing_required_param_says_how_to_give_it() -> None:
    done = triagebot("run", "alb-errors")
    assert done.returncode == 2 and "load_balancer" in done.stderr


def test_bad_usage_exits_2() -> None:
    done = triagebot("run")
    assert done.returncode == 2 and "playbook" in done.stderr
    done = triagebot("nosuchverb")
    assert done.returncode == 2


def test_check_shipped_playbooks_pass() -> None:
    done = triagebot("check", "playbooks/")
    assert done.returncode == 0, done.stdout
    assert "valid" in done.stdout


def test_check_reports_every_problem_as_file_line_col() -> None:
    done = triagebot("check", str(FIXTURES / "playbooks" / "invalid"))
    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if line.startswith(str(FIXTURES))]
    assert len(lines) >= 20
    for line in lines:
        path, row, col, message = line.split(":", 3)
        assert (
            path.endswith((".yaml", ".yml")) and row.isdigit() and col.isdigit() and message.strip()
        )
    assert "did you mean" in done.stdout.lower()


def test_check_reports_a_bad_config_and_routes(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[routes]]\nplaybook = "alb-eror"\n')
    done = triagebot("check", "--config", str(config))
    assert done.returncode == 1
    assert (
        "route 1 names playbook `alb-eror`, which does not exist. Did you mean `alb-errors`?"
        in done.stdout
    )
    config.write_text("[server]\nprot = 1\n")
    done = triagebot("check", "--config", str(config))
    assert done.returncode == 1 and f"{config}:2:1: unknown key `server.prot`" in done.stderr


def test_steps_lists_every_step_with_params_and_iam() -> None:
    done = triagebot("steps")
    assert done.returncode == 0
    section = done.stdout.split("elbv2.target_health\n", 1)[1].split("\n\n", 1)[0]
    assert "load_balancer: string (optional), optional" in section, section
    assert "elasticloadbalancing:DescribeTargetHealth" in section, section


def test_iam_policy_is_read_only_and_covers_the_playbooks(tmp_path: Path) -> None:
    done = triagebot("iam-policy")
    assert done.returncode == 0
    policy = json.loads(done.stdout)
    [read] = policy["Statement"]
    actions = set(read["Action"])
    assert {
        "elasticloadbalancing:DescribeTargetHealth",
        "cloudtrail:LookupEvents",
        "health:DescribeEvents",
    } <= actions
    assert not any(
        a.split(":")[1].startswith(("Delete", "Put", "Create", "Update", "Terminate"))
        for a in actions
    )

    config = tmp_path / "config.toml"
    config.write_text(
        '[digest]\nchannel = "C1"\n[sqs]\nqueue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/alarms"\n'
        '[[aws.accounts]]\nname = "prod"\nrole_arn = "arn:aws:iam::111122223333:role/triagebot-read"\n'
    )
    policy = json.loads(triagebot("iam-policy", "--config", str(config)).stdout)
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert "ce:GetCostAndUsage" in sids["TriagebotCostDigest"]["Action"]
    assert sids["TriagebotAlarmQueue"]["Resource"] == "arn:aws:sqs:eu-west-1:111122223333:alarms"
    assert sids["TriagebotAssumeAccountRoles"]["Resource"] == [
        "arn:aws:iam::111122223333:role/triagebot-read"
    ]


def test_config_from_environment_variable(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text("[server]\nport = 99999\n")
    done = triagebot("check", env={"TRIAGEBOT_CONFIG": str(config)})
    assert done.returncode == 1 and "server.port" in done.stderr


def test_committed_iam_policy_matches_the_generator() -> None:
    done = triagebot("iam-policy", "--config", "deploy/policy-config.toml")
    committed = (ROOT / "deploy" / "iam-policy.json").read_text()
    assert json.loads(done.stdout) == json.loads(committed), (
        "deploy/iam-policy.json is stale: run "
        "`triagebot iam-policy --config deploy/policy-config.toml > deploy/iam-policy.json`"
    )


def test_serve_without_slack_secrets_says_which_are_missing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert "serve needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in the environment" in done.stderr


def test_socket_mode_serves_health_and_metrics_but_no_events_route() -> None:
    from bot.app import build_app
    from bot.config import load_settings

    settings = load_settings(None, env={"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_APP_TOKEN": "xapp-x"})
    app = build_app(settings, socket_mode=True)
    paths = {route.resource.canonical for route in app.web.router.routes() if route.resource}
    assert {"/healthz", "/metrics", "/sns"} <= paths and "/slack/events" not in paths


def test_a_throttled_step_is_retried_and_says_how_many_attempts(
    slow_aws: SlowAws, tmp_path: Path
) -> None:
    playbook = tmp_path / "whoami.yaml"
    playbook.write_text("name: whoami\nsteps:\n  - id: me\n    uses: sts.caller_identity\n")
    slow_aws.throttle("GetCallerIdentity", 2)
    done = triagebot("run", str(playbook), env={"AWS_ENDPOINT_URL": slow_aws.url})
    assert done.returncode == 0, done.stderr
    assert "Acting as `arn:aws:sts::123456789012:user/moto`" in done.stdout
    assert "3 attempts (2 retries after throttling or server errors)" in done.stdout
    assert slow_aws.calls["GetCallerIdentity"] == 3


# -- issue 11: the CLI's edges -----------------------------------------------------------------


def test_run_health_needs_no_parameters_with_or_without_an_alarm(
    slow_aws: SlowAws, tmp_path: Path
) -> None:
    slow_aws.answer("DescribeEvents", {"events": []})  # moto has no AWS Health
    env = {"AWS_ENDPOINT_URL": slow_aws.url}
    done = triagebot("run", "health", env=env)
    assert done.returncode == 0, done.stderr
    assert "No open or upcoming AWS Health events for us-east-1 (or global)." in done.stdout

    event = json.loads(
        (FIXTURES / "eventbridge" / "cloudwatch-alarm-state-change-single-metric.json").read_text()
    )
    event["region"] = "eu-west-1"
    alarm = tmp_path / "alarm.json"
    alarm.write_text(json.dumps(event))
    done = triagebot("run", "health", "--alarm", str(alarm), env=env)
    assert done.returncode == 0, done.stderr
    assert "No open or upcoming AWS Health events for eu-west-1 (or global)." in done.stdout
    done = triagebot("run", "health", "--param", "region=ap-south-1", env=env)
    assert "No open or upcoming AWS Health events for ap-south-1 (or global)." in done.stdout


def test_an_alarm_file_that_is_no_alarm_is_refused_saying_what_would_do(tmp_path: Path) -> None:
    for name, content in (("hello.json", {"hello": "world"}), ("list.json", [1, 2])):
        path = tmp_path / name
        path.write_text(json.dumps(content))
        done = triagebot("run", "health", "--alarm", str(path))
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        assert f"--alarm {path} is not an alarm. Expected an SNS notification" in done.stderr
        assert "CloudWatch alarm's JSON" in done.stderr and "EventBridge event" in done.stderr
        assert "Traceback" not in done.stderr and not done.stdout


def test_cli_parameter_errors_show_the_cli_syntax() -> None:
    done = triagebot("run", "alb-errors")
    assert done.returncode == 2
    assert "`triagebot run alb-errors --param load_balancer=…`" in done.stderr
    assert "/triage" not in done.stderr
    done = triagebot("run", "alb-errors", "--param", "lookback=soon", "--param", "load_balancer=x")
    assert done.returncode == 2
    assert "`triagebot run alb-errors --param lookback=1h`" in done.stderr


def test_without_credentials_the_run_says_so_once_with_how_to_give_them(
    moto_url: str, tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION", "AWS_SECURITY"))
    }
    env.update(
        AWS_ENDPOINT_URL=moto_url,
        AWS_EC2_METADATA_DISABLED="true",  # no instance-role lookup off this machine
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "health"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("No AWS credentials") == 1, done.stderr
    for way in ("AWS_PROFILE", "aws configure", "AWS_ACCESS_KEY_ID", "instance"):
        assert way in done.stderr
    assert "Traceback" not in done.stderr


def test_an_html_page_from_aws_is_one_line_in_steps_and_in_the_digest() -> None:
    from tests.support.page_aws import PageAws

    page = PageAws(status=403)
    page.start()
    try:
        run = triagebot("run", "health", env={"AWS_ENDPOINT_URL": page.url})
        digest = triagebot("digest", "--date", "2026-11-20", env={"AWS_ENDPOINT_URL": page.url})
    finally:
        page.stop()
    line = f"AWS answered with something that is not its API format: HTTP 403 from 127.0.0.1:{page.port} (a web page)."
    assert run.returncode == 0, run.stderr
    assert f"`health:DescribeEvents` failed: {line}" in run.stdout, run.stdout
    assert digest.returncode == 0, digest.stderr
    assert f"Daily spend unavailable: `ce:GetCostAndUsage` failed: {line}" in digest.stdout
    for out in (run, digest):
        assert "<html" not in out.stdout.lower() and "Traceback" not in out.stdout + out.stderr
        assert "internal error" not in out.stdout


def test_steps_into_a_closed_pipe_ends_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `triagebot steps | head` once head has gone
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "steps"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert done.stderr == ""


def test_bad_usage_is_exit_2_for_every_verb(tmp_path: Path) -> None:
    for args in (
        ("check", str(tmp_path / "missing.yaml")),
        ("run", "health", "--alarm", str(tmp_path / "missing.json")),
        ("run", "health", "--param", "region"),
        ("digest", "--date", "yesterday"),
        ("steps", "--nonsense"),
    ):
        done = triagebot(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.strip(), args
