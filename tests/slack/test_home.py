"""The App Home tab through the whole app (``build_app`` on a loopback port, a signed SNS alarm,
signed Slack events and commands, the Slack stand-in over HTTP, moto): opening the tab publishes
the open incident with its state, ack and thread link, the viewer's own runs, and the playbooks
``[access]`` lets them run — each with a *Run* button that opens the playbook modal."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.demo.slack_requests import signed_headers, slash_command_body
from bot.slack.home import HOME_RUN_ACTION
from tests.alarms.sns_harness import CHANNEL, SLACK_ENV, SnsHarness, start_harness
from tests.incidents.through_app import NAME, fire, press, to_slack
from tests.slack.harness import FIXTURE_PLAYBOOKS, button_payload

NOW = datetime.now(UTC).replace(microsecond=0)
ADMIN, VISITOR = "U0ADMIN", "U0VISITOR"


@pytest.fixture
async def home_harness(tmp_path: Path, moto_url: str) -> AsyncIterator[SnsHarness]:
    extra = f'[playbooks]\ndirs = ["{FIXTURE_PLAYBOOKS}"]\n[access]\nadmins = ["{ADMIN}"]\n'
    async for h in start_harness(tmp_path, moto_url, extra=extra):
        yield h


async def signed(h: SnsHarness, body: str, content_type: str) -> None:
    headers = {
        **signed_headers(body, SLACK_ENV["SLACK_SIGNING_SECRET"]),
        "Content-Type": content_type,
    }
    async with h.http.post(f"{h.url}/slack/events", data=body.encode(), headers=headers) as r:
        assert r.status == 200
    await h.settle()


async def open_home(h: SnsHarness, user: str) -> list[dict[str, Any]]:
    """Send ``app_home_opened`` for ``user``; the blocks of the Home tab published for them."""
    event = {
        "type": "event_callback",
        "token": "verification_token",
        "team_id": "T1DC2JH3J",
        "api_app_id": "A0TRIAGE",
        "event_id": f"Ev{user}",
        "event_time": int(NOW.timestamp()),
        "event": {
            "type": "app_home_opened",
            "user": user,
            "channel": "D0HOME",
            "tab": "home",
            "event_ts": f"{NOW.timestamp():.6f}",
        },
    }
    await signed(h, json.dumps(event), "application/json")
    view = h.slack.homes[user]
    assert view["type"] == "home"
    return list(view["blocks"])


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [str((b.get("text") or {}).get("text") or "") for b in blocks if b["type"] == "section"]


def run_buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = [b["accessory"] for b in blocks if b.get("accessory", {}).get("action_id")]
    return {str(button["value"]): button for button in found}


async def test_the_home_tab_shows_open_incidents_own_runs_and_allowed_playbooks(
    home_harness: SnsHarness,
) -> None:
    h = home_harness
    await fire(h, "ALARM", NOW - timedelta(minutes=90))
    [root] = h.roots(NAME)
    await to_slack(h, press(root, "incident_ack", user="U0ONCALL"))
    await signed(
        h,
        slash_command_body("five-steps", user=ADMIN, channel=CHANNEL),
        "application/x-www-form-urlencoded",
    )

    admin = await open_home(h, ADMIN)
    [incident] = [t for t in texts(admin) if NAME in t]
    permalink = f"https://fake-workspace.slack.com/archives/{CHANNEL}/p{root.ts.replace('.', '')}"
    assert incident.startswith(f"<{permalink}|{NAME}>")
    # NOW is taken when the module is imported: in a whole run the test starts minutes later.
    age = re.search(r"· (\d+)h (\d+)m ·", incident)
    assert age is not None and 90 <= int(age[1]) * 60 + int(age[2]) < 90 + 60, incident
    assert "`ALARM`" in incident and "acked by <@U0ONCALL>" in incident
    [own_run] = [t for t in texts(admin) if "`five-steps`" in t and "<!date^" in t]
    assert own_run.startswith("`five-steps` · ")
    assert {"five-steps", "restart-web"} <= set(run_buttons(admin))
    assert "oncall-only" not in run_buttons(admin)  # allow: U0LEAD and S0ONCALL only

    visitor = await open_home(h, VISITOR)
    assert any(NAME in t for t in texts(visitor)), "open incidents are everyone's"
    assert "You have not run a playbook yet." in json.dumps(visitor)
    assert "five-steps" in run_buttons(visitor)
    assert "restart-web" not in run_buttons(visitor), "mutating: admins only"

    await to_slack(h, button_payload(HOME_RUN_ACTION, "five-steps", user=VISITOR, channel="D0HOME"))
    [modal] = [v for v in h.slack.views.values() if v.get("type") == "modal"]
    assert json.loads(modal["private_metadata"]) == {"channel": CHANNEL, "playbook": "five-steps"}
