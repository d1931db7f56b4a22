"""`triagebot demo`: no credentials, no network; a transcript that tells the incident's story."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_prints_the_alarm_thread_and_the_command_result() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "POST /sns  (signed ALARM for prod-web-5xx) → 200" in out
    assert "POST /slack/events  (/triage alb-errors load_balancer=prod-web) → 200" in out
    root, _, command_run = out.partition("asked by <@U0ONCALL>")
    assert "🔴 *ALARM* · *prod-web-5xx*" in root
    assert "↳" in root and "started by an alarm" in root, "the playbook ran in the alarm's thread"
    assert "prod-web-5xx-last-3h.png" in root, "the alarm's chart is in the thread"
    assert "Target.ResponseCodeMismatch: Health checks failed with these codes: [404]" in root
    assert "ModifyTargetGroup" in root and "touches the alarm's resources" in root
    assert "0 of 3 targets healthy" in command_run
    assert out.count("🔴 *ALARM*") == 1
