"""The built wheel, installed in a fresh venv outside the checkout, is the whole product:
``triagebot check``, ``steps``, ``iam-policy`` and ``serve`` work from a folder holding no
source, with the shipped playbooks found inside the wheel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.demo.moto_server import free_port
from bot.demo.slack_api import FakeSlackApi
from tests.deploy.conftest import ROOT, Installed
from tests.support.serve_process import ServeProcess

SHIPPED = sorted(path.name for path in (ROOT / "playbooks").glob("*.yaml"))


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """What a user's shell would hold: no PYTHONPATH, no checkout on the way; fake AWS keys."""
    keep = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION")
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        **{name: os.environ[name] for name in keep if name in os.environ},
        **extra,
    }


def triagebot(installed: Installed, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(installed.triagebot), *args],
        cwd=cwd,
        env=clean_env(cwd),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_wheel_carries_the_package_the_shipped_playbooks_and_the_command(
    installed: Installed,
) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        (entry_points,) = (name for name in names if name.endswith(".dist-info/entry_points.txt"))
        scripts = wheel.read(entry_points).decode()
    assert "bot/__main__.py" in names
    assert {f"bot/playbooks/shipped/{name}" for name in SHIPPED} <= names
    assert not [name for name in names if name.startswith(("tests/", "bench/", "playbooks/"))]
    assert "triagebot = bot.__main__:main" in scripts


def test_the_installed_bot_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    done = subprocess.run(
        [str(installed.python), "-c", "import bot; print(bot.__file__)"],
        cwd=installed.root,
        env=clean_env(installed.root),
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(done.stdout.strip()).is_relative_to(installed.venv)


def test_check_from_a_folder_without_a_checkout(installed: Installed, workdir: Path) -> None:
    (workdir / "config.toml").write_text('[playbooks]\ndirs = ["extra"]\n')
    (workdir / "extra").mkdir()
    playbook = workdir / "extra" / "mine.yaml"
    playbook.write_text(
        "name: mine\ntitle: Mine\nsteps:\n  - id: t\n    uses: elbv2.target_helth\n"
    )

    broken = triagebot(installed, workdir, "check")
    assert broken.returncode == 1
    assert (
        f"{playbook}:5:11: unknown step type `elbv2.target_helth`. "
        "Did you mean `elbv2.target_health`?"
    ) in broken.stdout + broken.stderr

    playbook.write_text(playbook.read_text().replace("target_helth", "target_health"))
    fixed = triagebot(installed, workdir, "check")
    assert fixed.returncode == 0, fixed.stderr
    assert "All playbooks and the config are valid." in fixed.stdout


def test_steps_lists_the_step_types(installed: Installed, workdir: Path) -> None:
    done = triagebot(installed, workdir, "steps")
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("\n\n")
    (target_health,) = (step for step in listed if step.startswith("elbv2.target_health\n"))
    assert "elasticloadbalancing:DescribeTargetHealth" in target_health.splitlines()[-1]


def test_iam_policy_covers_the_shipped_playbooks(installed: Installed, workdir: Path) -> None:
    done = triagebot(installed, workdir, "iam-policy")
    assert done.returncode == 0, done.stderr
    policy = json.loads(done.stdout)
    actions = {action for statement in policy["Statement"] for action in statement["Action"]}
    # alb-errors (a shipped playbook, read from inside the wheel) reads target health.
    assert "elasticloadbalancing:DescribeTargetHealth" in actions
    assert "cloudtrail:LookupEvents" in actions


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


async def test_serve_from_the_wheel_answers_healthz(
    installed: Installed, workdir: Path, slack: FakeSlackApi
) -> None:
    port = free_port()
    config = workdir / "config.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n[store]\nurl = "sqlite:///state.db"\n'
    )
    env = clean_env(
        workdir,
        SLACK_BOT_TOKEN="xoxb-wheel-test",
        SLACK_SIGNING_SECRET="wheel-test-secret",
        SLACK_API_URL=slack.base_url,
    )
    server = ServeProcess(
        config,
        port,
        env,
        workdir / "serve.log",
        command=[str(installed.triagebot), "serve", "--config", str(config)],
    )
    try:
        await server.start(timeout=60)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.url}/healthz") as response,
        ):
            health = await response.json()
        assert health["status"] == "ok"
        assert health["playbooks"] == len(SHIPPED)
        assert (workdir / "state.db").is_file()
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0, server.log_text()
    finally:
        server.stop()
