"""One loader for ``check``, ``run`` and ``serve``: any config ``check`` accepts, ``serve`` builds;
any config ``check`` rejects, ``serve`` (and ``run``) refuse with the same lines, before
listening. Each config below goes through the real CLI: ``check`` and ``run`` through its entry
point in this process (``bot.__main__.main``, what the ``triagebot`` script calls), ``serve`` as
its own process, since what matters there is that it never starts listening."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.app import build_app
from bot.config import load_settings
from bot.demo.moto_server import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": "test-signing-secret"}
PROD = '[[aws.accounts]]\nname = "prod"\nrole_arn = "arn:aws:iam::111122223333:role/read"\n'
BROKEN_PLAYBOOK = "name: Broken Name\nsteps:\n  - id: a\n    uses: sts.caler_identity\n"
STAGING_STEP = "name: staging-who\nsteps:\n  - id: me\n    uses: sts.caller_identity\n"
STAGING_STEP += "    account: staging\n"
ONLY_ONE = "name: only-one\nsteps:\n  - id: me\n    uses: sts.caller_identity\n"


@dataclass(frozen=True)
class Case:
    """A config (with the playbooks it names, by file name) and, when bad, lines it must give.
    ``{config}`` and ``{dir}`` in the expected lines stand for the config file and its folder."""

    toml: str
    playbooks: tuple[tuple[str, str], ...] = ()
    expected: tuple[str, ...] = ()


GOOD = {
    "built-in defaults": Case(""),
    "routes, accounts, digest and a team playbook folder": Case(
        f'{PROD}regions = ["us-east-1", "eu-west-1"]\n'
        '[playbooks]\ndirs = ["team"]\n'
        '[[routes]]\nmatch = { account = "prod", region = "eu-west-1" }\nplaybook = "only-one"\n'
        '[[routes]]\nmatch = { alarm_name = "prod-*-5xx" }\nplaybook = "alb-errors"\n'
        '[digest]\ncron = "30 8 * * 1-5"\ntimezone = "Europe/Berlin"\nchannel = "C1"\n'
        '[handover]\ncron = "0 7,19 * * *"\ntimezone = "Europe/Berlin"\nchannel = "C2"\n',
        playbooks=(("team/only-one.yaml", ONLY_ONE),),
    ),
    "a route with no match catches what alarm-default would": Case(
        '[playbooks]\nshipped = false\ndirs = ["team"]\n[[routes]]\nplaybook = "only-one"\n',
        playbooks=(("team/only-one.yaml", ONLY_ONE),),
    ),
}

BAD = {
    "route to a missing playbook": Case(
        '[slack]\ndefault_channel = "C1"\n\n[[routes]]\nplaybook = "alb-errors"\n'
        '[[routes]]\nmatch = { alarm_name = "x" }\nplaybook = "alb-eror"\n',
        expected=(
            "{config}:8:1: route 2 names playbook `alb-eror`, which does not exist. "
            "Did you mean `alb-errors`?",
        ),
    ),
    "cron hour 25": Case(
        '[digest]\nchannel = "C1"\ncron = "0 25 * * *"\n',
        expected=("{config}:3:1: digest.cron '0 25 * * *': ",),
    ),
    "handover cron hour 25": Case(
        '[handover]\nchannel = "C1"\ncron = "0 25 * * *"\n',
        expected=("{config}:3:1: handover.cron '0 25 * * *': ",),
    ),
    "unknown time zone": Case(
        '[digest]\ncron = "0 9 * * *"\ntimezone = "Europe/Berln"\n',
        expected=("{config}:3:1: `digest.timezone`: Value error, unknown time zone",),
    ),
    "mistyped key": Case(
        '[slack]\ndefualt_channel = "C1"\n',
        expected=(
            "{config}:2:1: unknown key `slack.defualt_channel`. Did you mean `default_channel`?",
        ),
    ),
    "broken playbook folder": Case(
        '[playbooks]\ndirs = ["team"]\n',
        playbooks=(("team/broken.yaml", BROKEN_PLAYBOOK),),
        expected=(
            "{dir}/team/broken.yaml:1:7: playbook name `Broken Name` should be lowercase",
            "{dir}/team/broken.yaml:4:11: unknown step type `sts.caler_identity`",
        ),
    ),
    "route to a region outside its account's regions": Case(
        f'{PROD}regions = ["us-east-1"]\n'
        '[[routes]]\nmatch = { account = "prod", region = "Europe (Ireland)" }\n'
        'playbook = "alb-errors"\n',
        expected=(
            "{config}:6:1: route 1: region `eu-west-1` is outside the regions of account `prod` "
            "(us-east-1)",
        ),
    ),
    "route to an account that is neither an id nor a name": Case(
        f'{PROD}[[routes]]\nmatch.account = "prd"\nplaybook = "alb-errors"\n',
        expected=("{config}:5:1: route 1 matches account `prd`, which is neither",),
    ),
    "account region that is no region": Case(
        f'{PROD}regions = ["us-east-1", "Frankfurt"]\n',
        expected=("{config}:4:1: `Frankfurt` in the regions of account `prod` is not an AWS",),
    ),
    "step in an account that is not configured": Case(
        f'{PROD}[playbooks]\ndirs = ["team"]\n',
        playbooks=(("team/staging.yaml", STAGING_STEP),),
        expected=(
            "{dir}/team/staging.yaml:5:14: step `me` uses account `staging`, which is not in "
            "[[aws.accounts]] (`prod`).",
        ),
    ),
    "route that pages with no [paging] table": Case(
        '[[routes]]\nplaybook = "alb-errors"\npage = "pagerduty"\n',
        expected=("{config}:3:1: route 1 pages `pagerduty`, but there is no [paging] table",),
    ),
    "no fallback playbook for unrouted alarms": Case(
        '[playbooks]\nshipped = false\ndirs = ["team"]\n',
        playbooks=(("team/only-one.yaml", ONLY_ONE),),
        expected=(
            "{config}: an alarm that no route matches runs playbook `alarm-default`",
            "{config}: a Health event that no route matches runs playbook `health`",
        ),
    ),
}


def write_case(case: Case, folder: Path) -> Path:
    config = folder / "config.toml"
    # a port of its own, in case serve wrongly starts (lines above stay where they are)
    config.write_text(f'{case.toml}\n[server]\nhost = "127.0.0.1"\nport = {free_port()}\n')
    for name, text in case.playbooks:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return config


def triagebot(
    *args: str, extra_env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**env, **(extra_env or {})},
        cwd=ROOT,
    )


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``triagebot ARGS`` through the CLI's entry point, in this process."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def problem_lines(output: str, verb: str) -> list[str]:
    """The problems a command printed: one per line, without the ``triagebot VERB:`` prefix,
    the closing count and serve's JSON log lines."""
    lines = [line.removeprefix(f"triagebot {verb}: ") for line in output.splitlines()]
    return [line for line in lines if line and not line.startswith("{") and "found." not in line]


@pytest.mark.parametrize("name", GOOD)
def test_a_config_check_accepts_is_one_serve_builds(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_case(GOOD[name], tmp_path)
    checked = cli(capsys, "check", "--config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All playbooks and the config are valid." in checked.stdout

    settings = load_settings(config, env={**SECRETS, "AWS_REGION": "us-east-1"})
    app = build_app(settings)
    try:
        assert "alb-errors" in app.catalog or not settings.playbooks.shipped
        assert (app.digest is not None) == (settings.digest is not None)
    finally:
        app.aws.close()


@pytest.mark.parametrize("name", BAD)
def test_a_config_check_rejects_serve_and_run_refuse_with_the_same_lines(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = BAD[name]
    config = write_case(case, tmp_path)
    expected = [
        line.format(config=config, dir=tmp_path) for line in case.expected
    ]  # prefixes of lines

    checked = cli(capsys, "check", "--config", str(config))
    assert checked.returncode == 1
    reported = problem_lines(checked.stdout + checked.stderr, "check")
    for wanted in expected:
        assert any(line.startswith(wanted) for line in reported), (wanted, reported)

    served = triagebot("serve", "--config", str(config), extra_env=SECRETS, timeout=60)
    assert served.returncode in (1, 2), served.stderr
    assert "listening on" not in served.stderr and served.stdout == ""
    assert problem_lines(served.stderr, "serve") == reported

    ran = cli(capsys, "run", "alb-errors", "--config", str(config))
    assert ran.returncode in (1, 2)
    assert problem_lines(ran.stderr, "run") == reported


def test_serve_refuses_to_page_without_the_routing_key_check_and_run_need_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paging = '[paging]\nurl = "http://127.0.0.1:9/enqueue"\nrouting_key_env = "PD_KEY"\n'
    config = write_case(
        Case(f'{paging}[[routes]]\nplaybook = "alb-errors"\npage = "pagerduty"\n'), tmp_path
    )
    assert cli(capsys, "check", "--config", str(config)).returncode == 0

    served = triagebot("serve", "--config", str(config), extra_env=SECRETS, timeout=60)
    assert served.returncode in (1, 2), served.stderr
    assert "listening on" not in served.stderr
    assert problem_lines(served.stderr, "serve") == [
        f"{config}:3:1: route 1 pages PagerDuty, so serve needs its routing key in $PD_KEY, "
        "which is not set."
    ]

    settings = load_settings(config, env={**SECRETS, "PD_KEY": "R0UT1NGKEY"})
    assert settings.secrets.pagerduty_routing_key is not None
    assert "R0UT1NGKEY" not in repr(settings)  # a secret never prints
    build_app(settings).aws.close()


def test_check_reads_each_playbook_once_even_when_named_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_case(BAD["broken playbook folder"], tmp_path)
    checked = cli(capsys, "check", "--config", str(config), str(tmp_path / "team"))
    assert checked.returncode == 1
    assert "2 problems found." in checked.stdout, checked.stdout


def test_a_run_in_an_account_looks_only_in_its_regions(tmp_path: Path) -> None:
    """A region known only at run time (a parameter) outside the account's regions: the step
    says so instead of calling AWS; the other step still runs."""
    config = tmp_path / "config.toml"
    config.write_text(f'{PROD}regions = ["us-east-1"]\n')
    playbook = tmp_path / "where.yaml"
    playbook.write_text(
        "name: where\nparams:\n  region: {type: string, default: us-east-1}\nsteps:\n"
        "  - id: there\n    uses: sts.caller_identity\n    account: prod\n"
        '    region: "{{ params.region }}"\n'
    )
    ran = triagebot("run", str(playbook), "--config", str(config), "--param", "region=eu-west-1")
    assert ran.returncode == 0, ran.stderr
    assert (
        "Not calling AWS: region `eu-west-1` is outside the regions of account `prod` (us-east-1)"
        in ran.stdout
    ), ran.stdout
