"""What the demo leaves behind: a folder with the transcript, each message's Block Kit JSON (paste
it into Slack's Block Kit Builder) and the files the bot uploaded (the charts).

The folder is marked as the demo's (``.triagebot-demo``), so a second run replaces what the first
wrote and never touches a folder it did not make.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.demo.slack_api import FakeSlackApi, SlackMessage
from bot.errors import ConfigError

DEFAULT_OUTPUT = Path("triagebot-demo-output")
MARKER = ".triagebot-demo"
MESSAGES = "messages"
FILES = "files"
TRANSCRIPT = "transcript.txt"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def prepare(folder: Path) -> Path:
    """Make ``folder`` ready to write into: create it, or empty what an earlier demo wrote.
    A folder with other things in it and no marker is refused (ConfigError)."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--output {folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise ConfigError(
            f"--output {folder}: the folder is not empty and was not written by the demo; "
            "choose an empty or new folder"
        )
    for sub in (MESSAGES, FILES):
        for old in (folder / sub).glob("*") if (folder / sub).is_dir() else ():
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("written by `triagebot demo`; safe to delete\n")
    return folder


def write_output(folder: Path, slack: FakeSlackApi, channel: str) -> list[Path]:
    """Write the channel's transcript, every message's Block Kit JSON, and every uploaded file."""
    written = [folder / TRANSCRIPT]
    written[0].write_text(slack.transcript(channel))
    (folder / MESSAGES).mkdir(exist_ok=True)
    (folder / FILES).mkdir(exist_ok=True)
    for number, message in enumerate(_in_reading_order(slack, channel), start=1):
        path = folder / MESSAGES / f"{number:02d}-{message.ts}.json"
        path.write_text(json.dumps(_as_json(message), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    for found in slack.files.values():
        if found.content is None or found.channel != channel:
            continue
        path = folder / FILES / (_UNSAFE.sub("_", found.filename) or found.file_id)
        path.write_bytes(found.content)
        written.append(path)
    return written


def _in_reading_order(slack: FakeSlackApi, channel: str) -> list[SlackMessage]:
    ordered: list[SlackMessage] = []
    for top in slack.messages(channel):
        ordered.append(top)
        ordered.extend(slack.thread(channel, top.ts))
    return ordered


def _as_json(message: SlackMessage) -> dict[str, object]:
    body: dict[str, object] = {"channel": message.channel, "ts": message.ts}
    if message.is_reply:
        body["thread_ts"] = message.thread_ts
    body["text"] = message.text
    body["blocks"] = list(message.blocks)
    if message.file_ids:
        body["files"] = list(message.file_ids)
    return body
