"""What the local Slack stand-in remembers: calls, messages, threads, files, views.

Plain data plus ``render_transcript``, which prints a channel and its threads the way a person
would read them in Slack (blocks flattened to text, buttons as ``[Label]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SlackCall:
    """One request the stand-in received, and what it answered."""

    method: str  # "chat.postMessage"; "upload" for a POST to an upload URL
    args: Mapping[str, Any]  # query string, form and JSON body merged; JSON strings decoded
    token: str  # from ``Authorization: Bearer …``; "" when absent
    http_method: str
    status: int  # HTTP status answered
    response: Mapping[str, Any]  # JSON body answered ({} for the upload URL)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok", True))


@dataclass(frozen=True)
class MessageVersion:
    """What a message said before a ``chat.update`` replaced it."""

    text: str
    blocks: tuple[Mapping[str, Any], ...]


@dataclass
class SlackMessage:
    """A message in a channel; ``chat.update`` edits it in place and keeps ``edits``."""

    channel: str
    ts: str
    text: str
    blocks: list[Mapping[str, Any]]
    user: str
    thread_ts: str = ""  # the parent's ts when this is a reply
    file_ids: list[str] = field(default_factory=list)
    edits: list[MessageVersion] = field(default_factory=list)  # oldest first
    metadata: Mapping[str, Any] | None = None  # chat.postMessage's ``metadata``, as given
    bot: bool = True  # posted by the bot (a person's message has no ``bot_id``)

    @property
    def is_reply(self) -> bool:
        return bool(self.thread_ts) and self.thread_ts != self.ts

    def as_api(self, bot_id: str, *, with_metadata: bool = False) -> dict[str, Any]:
        """The message as Slack's Web API returns it (``metadata`` only when asked for, as
        with ``include_all_metadata``)."""
        body: dict[str, Any] = {
            "type": "message",
            "ts": self.ts,
            "user": self.user,
            "text": self.text,
        }
        if self.bot:
            body["bot_id"] = bot_id
        if self.blocks:
            body["blocks"] = list(self.blocks)
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.file_ids:
            body["files"] = [{"id": file_id} for file_id in self.file_ids]
        if with_metadata and self.metadata is not None:
            body["metadata"] = dict(self.metadata)
        return body


@dataclass(frozen=True)
class Ephemeral:
    """A message only ``user`` sees (``chat.postEphemeral``)."""

    channel: str
    user: str
    message_ts: str
    text: str
    blocks: tuple[Mapping[str, Any], ...] = ()
    thread_ts: str = ""


@dataclass
class SlackFile:
    """A file from ``files.getUploadURLExternal`` → upload → ``files.completeUploadExternal``."""

    file_id: str
    filename: str
    length: int  # as declared when the upload URL was asked for
    content: bytes | None = None  # None until uploaded
    title: str = ""
    channel: str = ""  # set on completion
    thread_ts: str = ""
    completed: bool = False


def blocks_text(blocks: Iterable[Mapping[str, Any]]) -> list[str]:
    """Block Kit blocks as the lines of text a reader would see."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(_text(block.get("text")).upper())
        elif kind == "section":
            if block.get("text"):
                lines.extend(_text(block["text"]).splitlines())
            fields = [_text(f) for f in block.get("fields", [])]
            if fields:  # a field is usually "*Label*\nvalue": show it as "Label: value"
                lines.append(" · ".join(f.replace("*", "").replace("\n", ": ", 1) for f in fields))
            if block.get("accessory"):
                lines.append(_element(block["accessory"]))
        elif kind == "context":
            lines.append(" · ".join(_element(e) for e in block.get("elements", [])))
        elif kind == "actions":
            lines.append(" ".join(_element(e) for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("---")
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "rich_text":
            lines.extend("".join(_rich_texts(block.get("elements", []))).splitlines())
        elif kind == "input":
            lines.append(f"{_text(block.get('label'))}: [input]")
        else:
            lines.append(f"[{kind}]")
    return lines


def _text(obj: Any) -> str:
    if isinstance(obj, Mapping):
        text = str(obj.get("text", ""))
        return unescape(text) if obj.get("type") == "mrkdwn" else text
    return "" if obj is None else str(obj)


def unescape(text: str) -> str:
    """Slack's three escaped characters as Slack shows them (``&gt;`` reads as ``>``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element(element: Mapping[str, Any]) -> str:
    kind = element.get("type")
    if kind in ("mrkdwn", "plain_text"):
        return _text(element)
    if kind == "button":
        return f"[{_text(element.get('text'))}]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind == "overflow":
        return "[…]"
    label = _text(element.get("placeholder")) or _text(element.get("text")) or str(kind)
    return f"[{label} ▾]"


def _rich_texts(elements: Sequence[Any]) -> Iterable[str]:
    for element in elements:
        if isinstance(element, Mapping):
            if "text" in element and isinstance(element["text"], str):
                yield element["text"]
            yield from _rich_texts(element.get("elements", []))


def render_transcript(
    channel: str,
    messages: Sequence[SlackMessage],
    ephemerals: Sequence[Ephemeral],
    files: Mapping[str, SlackFile],
) -> str:
    """A channel and its threads as indented text, in the order things were posted."""
    out = [f"── #{channel} ──"]
    top = [m for m in messages if not m.is_reply]
    replies = [m for m in messages if m.is_reply]
    entries: list[tuple[str, int, Any]] = [(m.ts, 0, m) for m in top]
    entries += [(e.message_ts, 1, e) for e in ephemerals if not e.thread_ts]
    for _, _, entry in sorted(entries, key=lambda item: (item[0], item[1])):
        if isinstance(entry, Ephemeral):
            _render_ephemeral(out, entry, indent="")
            continue
        _render_message(out, entry, files, indent="")
        thread = [r for r in replies if r.thread_ts == entry.ts]
        thread_ephemerals = [e for e in ephemerals if e.thread_ts == entry.ts]
        items: list[tuple[str, Any]] = [(r.ts, r) for r in thread]
        items += [(e.message_ts, e) for e in thread_ephemerals]
        for _, item in sorted(items, key=lambda pair: pair[0]):
            if isinstance(item, Ephemeral):
                _render_ephemeral(out, item, indent="    ↳ ")
            else:
                _render_message(out, item, files, indent="    ↳ ")
    if len(out) == 1:
        out.append("(no messages)")
    return "\n".join(out) + "\n"


def _render_message(
    out: list[str], message: SlackMessage, files: Mapping[str, SlackFile], indent: str
) -> None:
    body = blocks_text(message.blocks) if message.blocks else unescape(message.text).splitlines()
    for file_id in message.file_ids:
        found = files.get(file_id)
        size = len(found.content or b"") if found else 0
        name = found.filename if found else file_id
        body.append(f"[file: {name}, {size} bytes]")
    _emit(out, f"[{message.ts}] <{message.user}>", body, indent)
    if message.edits:
        times = "once" if len(message.edits) == 1 else f"{len(message.edits)} times"
        out.append(" " * len(indent) + f"    (edited {times})")


def _render_ephemeral(out: list[str], message: Ephemeral, indent: str) -> None:
    body = (
        list(blocks_text(message.blocks)) if message.blocks else unescape(message.text).splitlines()
    )
    _emit(out, f"[{message.message_ts}] (only {message.user} sees this)", body, indent)


def _emit(out: list[str], head: str, body: list[str], indent: str) -> None:
    first, rest = (body[0], body[1:]) if body else ("", [])
    out.append(f"{indent}{head} {first}".rstrip())
    pad = " " * len(indent) + "    "
    out.extend(f"{pad}{line}".rstrip() for line in rest)
