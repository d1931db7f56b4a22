"""Resolution notes through the whole app (``build_app`` on a loopback port, signed SNS alarms,
signed Slack button presses and modal submissions, the Slack stand-in over HTTP, moto): the
resolved root offers *Add note*; the modal's note is kept with the incident, shown on the root
and in the thread, and shown by the history reply when the alarm fires again. Mute offers a
choice of durations."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.alarms.sns_harness import CHANNEL, SnsHarness, start_harness
from tests.incidents.conftest import shown
from tests.incidents.through_app import NAME, control, fire, press, to_slack

NOW = datetime.now(UTC).replace(microsecond=0)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slack"
NOTE = "Rolled back web-release-4711 <!channel> & the 5xx stopped"


def submission(view: Mapping[str, Any], note: str, user: str = "U0ONCALL") -> dict[str, Any]:
    """The modal submitted with ``note`` typed in, shaped like Slack's (the fixture)."""
    payload: dict[str, Any] = copy.deepcopy(
        json.loads((FIXTURES / "view-submission.payload.json").read_text())
    )
    payload["user"]["id"] = user
    [block] = view["blocks"]
    state = {
        block["block_id"]: {
            block["element"]["action_id"]: {"type": "plain_text_input", "value": note}
        }
    }
    payload["view"].update({**view, "state": {"values": state}})
    return payload


async def test_a_note_left_on_the_resolved_root_is_kept_shown_and_recalled(
    app_harness: SnsHarness,
) -> None:
    h = app_harness
    opened = NOW - timedelta(days=1)
    await fire(h, "ALARM", opened)
    [root] = h.roots(NAME)
    assert "Add note" not in shown(root), "no note while the incident is open"
    await fire(h, "OK", opened + timedelta(minutes=7))
    [root] = h.roots(NAME)
    assert "[Re-run] [Add note]" in shown(root)

    await to_slack(h, press(root, "incident_note"))
    [view] = h.slack.views.values()
    assert view["callback_id"] == "incident_note" and len(view["blocks"]) == 1
    await to_slack(h, submission(view, NOTE))

    incident = await h.app.store.incident_get(f"123456789012/us-east-1/{NAME}")
    assert incident is not None and (incident.note, incident.note_by) == (NOTE, "U0ONCALL")
    [root] = h.roots(NAME)
    escaped = "Rolled back web-release-4711 &lt;!channel&gt; &amp; the 5xx stopped"
    sections = [b["text"]["text"] for b in root.blocks if b["type"] == "section" and "text" in b]
    assert f"📝 *Resolution note* from <@U0ONCALL>: {escaped}" in sections  # data, not markup
    assert "[Re-run] [Edit note]" in shown(root)
    replies = [m.text for m in h.slack.thread(CHANNEL, root.ts)]
    assert f"📝 <@U0ONCALL> left a note: {escaped}" in replies
    assert not h.slack.ephemerals

    # Edit note opens the modal with the note in it.
    await to_slack(h, press(root, "incident_note"))
    edited = list(h.slack.views.values())[-1]
    assert edited["blocks"][0]["element"]["initial_value"] == NOTE

    # The next time the alarm fires, the history reply shows it.
    await fire(h, "ALARM", NOW)
    first = h.slack.thread(CHANNEL, h.roots(NAME)[-1].ts)[0]
    assert "🕘 *Seen before*" in first.text
    assert "resolved after 7m · <https://fake-workspace.slack.com/" in first.text
    assert f"|thread> · 📝 {escaped}" in first.text


async def test_no_note_while_the_incident_is_open(tmp_path: Path, moto_url: str) -> None:
    async for h in start_harness(tmp_path, moto_url):
        await fire(h, "ALARM", NOW - timedelta(minutes=5))
        [root] = h.roots(NAME)
        forged = press(root, "incident_ack")
        forged["actions"][0]["action_id"] = "incident_note"
        await to_slack(h, forged)
        assert not h.slack.views
        [told] = h.slack.ephemerals
        assert told.text == "A note can be added once the incident is resolved."


async def test_mute_offers_a_choice_of_durations(app_harness: SnsHarness) -> None:
    h = app_harness
    await fire(h, "ALARM", NOW - timedelta(minutes=5))
    [root] = h.roots(NAME)
    mute = control(root, "incident_mute")
    assert mute["type"] == "static_select"
    [four_hours] = [o for o in mute["options"] if o["value"] == "4h"]
    payload = press(root, "incident_ack")  # the same payload, for a choice in the select:
    chosen = {"type": "static_select", "selected_option": four_hours, "action_ts": "1.2"}
    payload["actions"] = [{"action_id": "incident_mute", "block_id": "incident", **chosen}]

    before = datetime.now(UTC)
    await to_slack(h, payload)

    incident = await h.app.store.incident_get(f"123456789012/us-east-1/{NAME}")
    assert incident is not None and incident.muted_until is not None
    assert (
        before + timedelta(hours=4)
        <= incident.muted_until
        <= datetime.now(UTC) + timedelta(hours=4)
    )
    [root] = h.roots(NAME)
    assert f"🔕 Muted until {incident.muted_until:%H:%M} UTC" in shown(root)
    assert any("muted this incident" in m.text for m in h.slack.thread(CHANNEL, root.ts))
