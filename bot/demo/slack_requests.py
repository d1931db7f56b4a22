"""Requests the way Slack sends them to ``/slack/events``: form bodies, signed with v0 HMAC."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode


def signed_headers(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature over the raw body."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def slash_command_body(text: str, *, user: str, channel: str, command: str = "/triage") -> str:
    """A slash-command form body, field for field like Slack's."""
    return urlencode(
        {
            "token": "xyzz0WbapA4vBCDEFasx0q6G",
            "team_id": "T1DC2JH3J",
            "team_domain": "testteamnow",
            "channel_id": channel,
            "channel_name": "incidents",
            "user_id": user,
            "user_name": "oncall",
            "command": command,
            "text": text,
            "api_app_id": "A0TRIAGE",
            "response_url": "https://hooks.slack.com/commands/T1DC2JH3J/1/x",
            # Slack gives every request its own trigger_id, so no two commands are one request.
            "trigger_id": f"398738663015.47445629121.{secrets.token_hex(16)}",
        }
    )


def payload_body(payload: dict[str, Any]) -> str:
    """An interactivity form body: ``payload=<url-encoded JSON>``."""
    return urlencode({"payload": json.dumps(payload)})


def button_payload(
    button: Mapping[str, Any], *, block_id: str, user: str, channel: str, message_ts: str
) -> dict[str, Any]:
    """A ``block_actions`` payload for pressing ``button`` (a Block Kit button element) on the
    message ``message_ts``, field for field like Slack's (see
    tests/fixtures/slack/block-actions-button.payload.json)."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "oncall", "name": "oncall", "team_id": "T1DC2JH3J"},
        "api_app_id": "A0TRIAGE",
        "token": "xyzz0WbapA4vBCDEFasx0q6G",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        "team": {"id": "T1DC2JH3J", "domain": "testteamnow"},
        "channel": {"id": channel, "name": "incidents"},
        "response_url": "https://hooks.slack.com/actions/T1DC2JH3J/1/x",
        "actions": [
            {
                "action_id": button["action_id"],
                "block_id": block_id,
                "text": button["text"],
                "value": button.get("value", ""),
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
