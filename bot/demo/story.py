"""The demo's incident, told the way the world would tell it to a running bot.

Every step is a real request to the real bot — SNS notifications signed like Amazon SNS's, Slack
commands and button presses signed like Slack's — and each waits for what a person would see
in Slack (the message or the edit reaching the Slack stand-in), never for a fixed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from bot.demo.seed import SeededIncident, alarm_envelope
from bot.demo.slack_api import FakeSlackApi, SlackCall, SlackMessage
from bot.demo.slack_model import blocks_text
from bot.demo.slack_requests import (
    button_payload,
    payload_body,
    signed_headers,
    slash_command_body,
)
from bot.demo.sns_signer import Signer
from bot.incidents.messages import ACK_ACTION


@dataclass
class Story:
    """The running demo: the bot at ``base``, the Slack stand-in, and who does what."""

    http: aiohttp.ClientSession
    base: str  # the bot, http://127.0.0.1:PORT
    slack: FakeSlackApi
    sns: Signer
    signing_secret: str
    incident: SeededIncident
    topic: str
    channel: str
    user: str  # the on-call engineer who types commands and presses buttons
    say: Callable[[str], None]
    timeout: float = 60.0  # how long one step may take to show in Slack

    async def alarm(self, state: str, at: datetime) -> float:
        """Send the alarm's ``state`` through ``POST /sns``. For ALARM, wait for the thread to
        be complete (the final run message and the chart) and return how long that took;
        for OK, wait for the root to say it is resolved."""
        mark, started = len(self.slack.calls), time.perf_counter()
        body = self.sns.body(alarm_envelope(self.incident, self.topic, state=state, at=at))
        headers = {"Content-Type": "text/plain", "x-amz-sns-message-type": "Notification"}
        async with self.http.post(f"{self.base}/sns", data=body, headers=headers) as reply:
            self.say(f"POST /sns  (signed {state} for {self.incident.alarm_name}) → {reply.status}")
        if state == "OK":
            await self._wait(_edit_saying("Resolved after"), mark)
        else:
            await self._wait(_final_run_message, mark)
            await self._wait(self._chart_upload, mark)
        return time.perf_counter() - started

    async def command(self, text: str) -> None:
        """Type ``/triage text`` in the channel; wait for its answer to be complete."""
        mark = len(self.slack.calls)
        form = slash_command_body(text, user=self.user, channel=self.channel)
        await self._post_slack(form, f"/triage {text}")
        if text == "cost":
            await self._wait(_message_starting("AWS spend"), mark)
            await self._wait(self._chart_upload, mark)
        else:
            await self._wait(_final_run_message, mark)

    async def acknowledge(self) -> None:
        """Press *Acknowledge* on the alarm's root message; wait for the root to say who."""
        root, block_id, button = self._root_button(ACK_ACTION)
        mark = len(self.slack.calls)
        payload = button_payload(
            button, block_id=block_id, user=self.user, channel=self.channel, message_ts=root.ts
        )
        await self._post_slack(payload_body(payload), f"[{button['text']['text']}] pressed")
        await self._wait(_edit_saying("Acknowledged by"), mark)

    async def _post_slack(self, form: str, what: str) -> None:
        headers = signed_headers(form, self.signing_secret)
        async with self.http.post(f"{self.base}/slack/events", data=form, headers=headers) as r:
            self.say(f"POST /slack/events  ({what}) → {r.status}")

    async def _wait(self, matches: Callable[[SlackCall], bool], since: int) -> None:
        await self.slack.wait_for(matches, self.timeout, since=since)

    def _root_button(self, action_id: str) -> tuple[SlackMessage, str, Mapping[str, Any]]:
        """The alarm's root message and the button on it, as a person would find them."""
        for message in self.slack.messages(self.channel):
            for block in message.blocks:
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    if element.get("action_id") == action_id:
                        return message, str(block.get("block_id", "")), element
        raise LookupError(f"no message in {self.channel} has a {action_id} button")

    def _chart_upload(self, call: SlackCall) -> bool:
        if call.method != "files.completeUploadExternal" or not call.ok:
            return False
        files = call.args.get("files") or []
        names = [
            self.slack.files[f["id"]].filename for f in files if f.get("id") in self.slack.files
        ]
        return any(name.endswith(".png") for name in names)


def _shown(args: Mapping[str, Any]) -> str:
    blocks = args.get("blocks")
    if isinstance(blocks, list) and blocks:
        return "\n".join(blocks_text(blocks))
    return str(args.get("text", ""))


def _final_run_message(call: SlackCall) -> bool:
    """A run message in its final state (its footer says how long the run took)."""
    return (
        call.method in ("chat.postMessage", "chat.update")
        and call.ok
        and any(line.startswith("Finished in") for line in _shown(call.args).splitlines())
    )


def _edit_saying(words: str) -> Callable[[SlackCall], bool]:
    return lambda call: call.method == "chat.update" and call.ok and words in _shown(call.args)


def _message_starting(words: str) -> Callable[[SlackCall], bool]:
    return lambda call: (
        call.method == "chat.postMessage"
        and call.ok
        and str(call.args.get("text", "")).startswith(words)
    )
