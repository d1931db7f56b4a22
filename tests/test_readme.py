"""README's commands work as README shows them: its first playbook passes `triagebot check` and
runs, and every `triagebot` verb README names is one the CLI has and a test runs."""

from __future__ import annotations

import re
from pathlib import Path

from bot.__main__ import build_parser
from bot.demo.seed import seed_incident
from tests.support.aws_proxy import SlowAws
from tests.test_cli import triagebot

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def first_playbook() -> tuple[str, str]:
    """The YAML block under README's "Write a first playbook", and the file name it gives."""
    section = README.split("### 5. Write a first playbook", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "README's first-playbook section has no YAML block"
    name = re.match(r"# (playbooks/[\w.-]+\.yaml)\n", block.group(1))
    assert name, "the block's first line names its file"
    return name.group(1), block.group(1)


def test_readmes_first_playbook_checks_and_runs(tmp_path: Path, slow_aws: SlowAws) -> None:
    incident = seed_incident(slow_aws.upstream)
    slow_aws.answer("LookupEvents", {"Events": []})  # moto lacks CloudTrail LookupEvents
    path, text = first_playbook()
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text(text)

    checked = triagebot("check", "playbooks/", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "valid" in checked.stdout
    assert f"triagebot run {path} --param load_balancer=prod-web" in README
    ran = triagebot(
        "run",
        path,
        "--param",
        f"load_balancer={incident.load_balancer}",
        env={"AWS_ENDPOINT_URL": slow_aws.url},
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert "Web latency" in ran.stdout
    assert f"{incident.instances[0]}:8080 in prod-web-tg is unused" in ran.stdout


def test_every_verb_readme_names_is_a_cli_verb_that_a_test_runs() -> None:
    named = set(re.findall(r"`triagebot (\w[\w-]*)", README)) | set(
        re.findall(r"^/opt/triagebot/bin/triagebot (\w[\w-]*)", README, re.M)
    )
    (subcommands,) = [
        action.choices
        for action in build_parser()._actions
        if getattr(action, "choices", None) and "serve" in action.choices
    ]
    assert named <= set(subcommands), named - set(subcommands)
    tests = [
        p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_readme.py"
    ]
    for verb in named:
        runs = re.compile(
            rf"""((triagebot|main|cli)\(\s*(\w+,\s*)?|["']bot["'],\s*)["']{verb}["']"""
        )
        assert any(runs.search(text) for text in tests), f"no test runs `triagebot {verb}`"
