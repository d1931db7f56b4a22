"""The Slack app manifest users create the app from: Socket Mode by default, exactly the scopes
the bot uses, each with a reason."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.incidents.timeline_slack import SHORTCUT_CALLBACK

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-manifest.yml"


def test_the_manifest_creates_a_socket_mode_app_with_the_triage_command() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    # Socket Mode delivers everything over the socket: no URL for Slack to call.
    assert "request_url" not in manifest["settings"]["interactivity"]
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/triage" and "url" not in command
    (shortcut,) = manifest["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", SHORTCUT_CALLBACK)
    # The Home tab, published afresh on its one event; no other event is subscribed.
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]


def test_every_scope_is_commented_with_why_it_is_needed() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert scopes == [
        "commands",
        "chat:write",
        "files:write",
        "usergroups:read",
        "channels:history",  # conversations.history/.replies: a post whose outcome is unknown
        "groups:history",
        "pins:read",  # pins.list: an exported timeline marks pinned messages
    ]
    for scope in scopes:
        (line,) = [
            ln for ln in MANIFEST.read_text().splitlines() if ln.strip().startswith(f"- {scope} ")
        ]
        assert "#" in line, f"scope {scope} has no comment saying why"
