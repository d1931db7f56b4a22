"""`triagebot demo`: no credentials, no network; a transcript that tells the incident's story."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def test_demo_tells_the_incident_from_alarm_to_resolution_and_the_bill(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_"))}
    folder = tmp_path / "demo-output"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--output", str(folder)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    # Driven the way the world would, in order: signed requests to the real bot.
    steps = [
        "POST /sns  (signed ALARM for prod-web-5xx) → 200",
        "POST /slack/events  (/triage alb-errors load_balancer=prod-web) → 200",
        "POST /slack/events  ([Acknowledge] pressed) → 200",
        "POST /sns  (signed OK for prod-web-5xx) → 200",
        "POST /slack/events  (/triage cost) → 200",
    ]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), out[:2000]
    assert re.search(
        r"alarm → complete thread in \d+\.\ds \(POST /sns to the final run message and the "
        r"chart in Slack\)",
        out,
    )

    transcript = out[out.index("── #C0INCIDENTS ──") :]
    # First the same alarm's incident of three days ago (seeded): a root, resolved, no thread.
    earlier, today = re.split(r"\n(?=\[)", transcript.split("\n", 1)[1], maxsplit=1)
    assert "✅ *Resolved after 9m* · *prod-web-5xx* (was ALARM)" in earlier and "↳" not in earlier
    earlier_ts = re.match(r"\[(\d+)\.(\d+)\]", earlier)
    assert earlier_ts, earlier
    thread, _, rest = today.partition("asked by <@U0ONCALL>")
    # Has this happened before? The thread's first reply says so, linking the earlier thread.
    seen = thread.split("↳", 2)[1]
    assert "🕘 *Seen before*: *prod-web-5xx* fired once in the last 30d; resolved after 9m." in seen
    permalink = (
        f"https://fake-workspace.slack.com/archives/C0INCIDENTS/p{''.join(earlier_ts.groups())}"
    )
    assert f"resolved after 9m · acknowledged by <@U0ONCALL> · <{permalink}|thread>" in seen
    # The root: acknowledged (by whom), then resolved with its duration.
    root = thread.split("↳", 1)[0]
    assert "✅ *Resolved after 4m* · *prod-web-5xx* (was ALARM)" in root
    assert "Acknowledged by <@U0ONCALL>" in root
    assert "↳" in thread and "started by an alarm" in thread, "the playbook ran in the thread"
    # What the run points at: the root says it once the run has finished (and still does after
    # Acknowledge and OK), and the run message opens with it, under its header and what ran.
    likely = re.search(r"🧭 \*Likely:\* (.+)", root)
    assert likely, root
    for words in ("`deploy-pipeline/web-release-4711`", "ModifyTargetGroup", "404"):
        assert words in likely.group(1)
    assert "Possible:" not in root, "the root shows the first line only"
    run_message = thread.split("↳", 3)[2].splitlines()
    assert "ALB 5XX ERRORS" in run_message[0] and "started by an alarm" in run_message[1]
    assert run_message[2].strip() == likely.group(0)
    assert "✅ OK — Resolved after 4m." in thread, "the OK notification replied in the thread"
    assert "prod-web-5xx-last-3h.png" in thread, "the alarm's chart is in the thread"
    # What the playbook found: unhealthy targets with reasons, the change and who made it,
    # the open AWS Health event for ELB in the region — each said once.
    unhealthy = re.findall(
        r"i-\w+:8080 in prod-web-tg is unhealthy \(Target\.ResponseCodeMismatch: "
        r"Health checks failed with these codes: \[404\]\)",
        thread,
    )
    assert len(unhealthy) == 2
    change = (
        "deploy-pipeline/web-release-4711 called ModifyTargetGroup on targetgroup/prod-web-tg/… "
    )
    assert thread.count(change) == 1
    assert "touches the alarm's resources" in thread
    assert thread.count("ELASTICLOADBALANCING AWS_ELASTICLOADBALANCING_API_ISSUE (open since") == 1
    assert "increased target registration latencies in the US-EAST-1 Region" in thread
    assert "skipped: the `log_group` parameter is not set" in thread
    assert "0 of 3 targets healthy" in rest
    # The cost digest, on demand.
    assert "AWS SPEND FOR" in rest and "Yesterday: $371.15" in rest
    assert re.search(r"\[file: aws-spend-\d{4}-\d\d-\d\d\.png, \d+ bytes\]", rest)
    assert out.count("🔴 *ALARM*") == 0, "the root no longer says ALARM once resolved"

    # Read as a person would: no template text, no Slack escapes, no whole ARNs.
    assert "{{" not in out
    for entity in ("&gt;", "&lt;", "&amp;"):
        assert entity not in out
    assert "arn:aws:elasticloadbalancing" not in out

    # The folder it names holds the charts and every message's Block Kit JSON.
    assert f"to {folder}/" in out
    charts = sorted(p.name for p in (folder / "files").glob("*.png"))
    assert charts[-1] == "prod-web-5xx-last-3h.png" and charts[0].startswith("aws-spend-")
    assert all((folder / "files" / name).read_bytes().startswith(PNG) for name in charts)
    messages = [json.loads(p.read_text()) for p in sorted((folder / "messages").glob("*.json"))]
    assert len(messages) >= 7
    assert all(m["channel"] == "C0INCIDENTS" and isinstance(m["blocks"], list) for m in messages)
    assert any(b["type"] == "header" for m in messages for b in m["blocks"])
    assert (folder / "transcript.txt").read_text() == transcript.rsplit("\n· wrote", 1)[0]

    # Last, today's incident's timeline, as `triagebot timeline` exports it: nothing after it.
    key = "123456789012/us-east-1/prod-web-5xx"
    said, _, exported = out.rpartition(f"`triagebot timeline {key}` exports it:\n\n")
    assert said, out[-3000:]
    assert exported.startswith(f"# Timeline: prod-web-5xx\n\n- **Incident:** {key}@"), exported
    assert "\n- **Time to resolve:** 4m\n" in exported, "today's incident, not the earlier one"
    assert re.search(r"^- \*\*Time to acknowledge:\*\* \d+m \(by @U0ONCALL\)$", exported, re.M)
    assert re.search(r"^- [\d:\- ]+ UTC — 👀 acknowledged by @U0ONCALL$", exported, re.M), exported
    assert re.search(
        r"^- [\d:\- ]+ UTC — 📈 chart posted: prod-web-5xx-last-3h\.png$", exported, re.M
    )
    assert exported.endswith("\n") and "\n· " not in exported
