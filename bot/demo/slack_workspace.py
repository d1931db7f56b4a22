"""The Slack workspace the stand-in pretends to be: channels, threads, files, views, users.

``FakeWorkspace.call(method, args)`` answers one Web API method the way Slack does (the body
without ``"ok"``), or raises ``SlackRefusal`` for ``{"ok": false, "error": …}``. It knows
nothing about HTTP; ``bot.demo.slack_api`` serves it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.demo.slack_model import (
    Ephemeral,
    MessageVersion,
    SlackFile,
    SlackMessage,
    render_transcript,
)

Method = Callable[[dict[str, Any]], dict[str, Any]]


class SlackRefusal(Exception):
    """Answer ``{"ok": false, "error": code}``, as Slack does for a call it refuses."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class FakeWorkspace:
    """State and Web API methods. Unknown methods answer ``{}`` (that is, ``ok: true``).

    ``users`` (id → user object) and ``channels`` (id → name) make those lookups strict:
    unknown ids get ``user_not_found`` / ``channel_not_found``; left None, any id exists.
    ``usergroups`` maps a user group id to its member ids.
    """

    def __init__(
        self,
        *,
        users: Mapping[str, Mapping[str, Any]] | None = None,
        channels: Mapping[str, str] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        team_id: str = "T0FAKE",
        first_ts: int = 1_700_000_000,
    ) -> None:
        self.users = dict(users) if users is not None else None
        self.channels = dict(channels) if channels is not None else None
        self.usergroups = {group: list(members) for group, members in (usergroups or {}).items()}
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.upload_root = ""  # where upload URLs point; the server sets it when it starts
        self.ephemerals: list[Ephemeral] = []
        self.files: dict[str, SlackFile] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, list[SlackMessage]] = {}
        self._first_us = first_ts * 1_000_000
        self._ticks = itertools.count(1)
        self._ids = itertools.count(1)
        self._methods: dict[str, Method] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "pins.add": self._pins_add,
            "pins.list": self._pins_list,
        }
        self.pins: dict[str, list[str]] = {}  # channel → pinned message ts, in pinning order

    def call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Answer one Web API method; raise SlackRefusal when Slack would refuse it."""
        found = self._methods.get(method)
        return found(args) if found else {}

    def upload(self, file_id: str, data: bytes) -> bool:
        """Store the bytes POSTed to a file's upload URL; False if no such upload was asked for."""
        found = self.files.get(file_id)
        if found is None:
            return False
        found.content = data
        return True

    # what is in the workspace

    def messages(self, channel: str) -> list[SlackMessage]:
        """Top-level messages of a channel, oldest first (thread replies are in ``thread``)."""
        return [m for m in self._messages.get(channel, []) if not m.is_reply]

    def thread(self, channel: str, ts: str) -> list[SlackMessage]:
        """The replies under the message ``ts`` (not the parent itself), oldest first."""
        return [m for m in self._messages.get(channel, []) if m.is_reply and m.thread_ts == ts]

    def message(self, channel: str, ts: str) -> SlackMessage | None:
        return next((m for m in self._messages.get(channel, []) if m.ts == ts), None)

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str,
        thread_ts: str = "",
        ts: str = "",
        bot: bool = False,
    ) -> SlackMessage:
        """A person's message (a bot's, with ``bot``) in ``thread_ts``'s thread, as if written
        in Slack; at ``ts`` when given (later than the channel's messages), else the next tick."""
        message = SlackMessage(channel, ts or self._next_ts(), text, [], user, thread_ts, bot=bot)
        self._messages.setdefault(channel, []).append(message)
        return message

    def transcript(self, channel: str) -> str:
        """The channel and its threads as readable text."""
        ephemerals = [e for e in self.ephemerals if e.channel == channel]
        return render_transcript(channel, self._messages.get(channel, []), ephemerals, self.files)

    # helpers

    def _next_ts(self) -> str:
        us = self._first_us + next(self._ticks) * 100
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}0FAKE{next(self._ids):04d}"

    # methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "triagebot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _channel(self, args: dict[str, Any]) -> str:
        channel = str(args.get("channel") or "")
        if not channel or (self.channels is not None and channel not in self.channels):
            raise SlackRefusal("channel_not_found")
        return channel

    def _existing(self, channel: str, ts: str) -> SlackMessage:
        found = self.message(channel, ts)
        if found is None:
            raise SlackRefusal("message_not_found")
        return found

    def _post(self, channel: str, text: str, blocks: list[Any], thread_ts: str) -> SlackMessage:
        if thread_ts:
            parent = self.message(channel, thread_ts)
            if parent is None:
                raise SlackRefusal("thread_not_found")
            thread_ts = parent.thread_ts if parent.is_reply else parent.ts
        message = SlackMessage(channel, self._next_ts(), text, blocks, self.bot_user_id, thread_ts)
        self._messages.setdefault(channel, []).append(message)
        return message

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        text, blocks = str(args.get("text") or ""), list(args.get("blocks") or [])
        if not text and not blocks and not args.get("attachments"):
            raise SlackRefusal("no_text")
        message = self._post(channel, text, blocks, str(args.get("thread_ts") or ""))
        message.metadata = _metadata(args.get("metadata"))
        return {"channel": channel, "ts": message.ts, "message": message.as_api(self.bot_id)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._existing(channel, str(args.get("ts") or ""))
        message.edits.append(MessageVersion(message.text, tuple(message.blocks)))
        if "text" in args:
            message.text = str(args["text"] or "")
        if "blocks" in args:
            message.blocks = list(args["blocks"] or [])
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_api(self.bot_id),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        user = str(args.get("user") or "")
        if not user:
            raise SlackRefusal("user_not_in_channel")
        ts = self._next_ts()
        blocks = tuple(args.get("blocks") or ())
        thread_ts = str(args.get("thread_ts") or "")
        self.ephemerals.append(
            Ephemeral(channel, user, ts, str(args.get("text") or ""), blocks, thread_ts)
        )
        return {"message_ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._existing(channel, str(args.get("message_ts") or ""))
        link = f"https://fake-workspace.slack.com/archives/{channel}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not args.get("trigger_id") and not args.get("interactivity_pointer"):
            raise SlackRefusal("invalid_arguments")
        if not isinstance(view, dict):
            raise SlackRefusal("invalid_arguments")
        view_id = self._next_id("V")
        self.views[view_id] = {**view, "id": view_id, "team_id": self.team_id, "hash": "1"}
        return {"view": self.views[view_id]}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict):
            raise SlackRefusal("invalid_arguments")
        view_id = str(args.get("view_id") or "")
        if not view_id and args.get("external_id"):
            external = args["external_id"]
            view_id = next(
                (k for k, v in self.views.items() if v.get("external_id") == external), ""
            )
        current = self.views.get(view_id)
        if current is None:
            raise SlackRefusal("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackRefusal("hash_conflict")
        new_hash = str(int(current["hash"]) + 1)
        self.views[view_id] = {**view, "id": view_id, "team_id": self.team_id, "hash": new_hash}
        return {"view": self.views[view_id]}

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length", ""))
        except ValueError:
            raise SlackRefusal("invalid_arguments") from None
        if not filename:
            raise SlackRefusal("invalid_arguments")
        file_id = self._next_id("F")
        self.files[file_id] = SlackFile(file_id, filename, length)
        return {"upload_url": f"{self.upload_root}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackRefusal("invalid_arguments")
        found = []
        for entry in entries:
            file = self.files.get(str(entry.get("id", ""))) if isinstance(entry, dict) else None
            if file is None or file.content is None:
                raise SlackRefusal("file_not_found")
            file.title = str(entry.get("title") or file.filename)
            found.append(file)
        channel = str(args.get("channel_id") or args.get("channels") or "").split(",")[0]
        thread_ts = str(args.get("thread_ts") or "")
        if channel:
            channel = self._channel({"channel": channel})
            message = self._post(channel, str(args.get("initial_comment") or ""), [], thread_ts)
            message.file_ids = [file.file_id for file in found]
            thread_ts = message.thread_ts
        for file in found:
            file.channel, file.thread_ts, file.completed = channel, thread_ts, True
        return {
            "files": [
                {
                    "id": f.file_id,
                    "name": f.filename,
                    "title": f.title,
                    "size": len(f.content or b""),
                }
                for f in found
            ]
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user") or "")
        if self.users is not None:
            if user_id not in self.users:
                raise SlackRefusal("user_not_found")
            return {"user": {"id": user_id, **self.users[user_id]}}
        if not user_id:
            raise SlackRefusal("user_not_found")
        name = user_id.lower()
        return {
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "real_name": f"User {user_id}",
                "tz": "UTC",
                "is_bot": user_id == self.bot_user_id,
                "profile": {"display_name": name, "real_name": f"User {user_id}"},
            }
        }

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup") or "")
        if group not in self.usergroups:
            raise SlackRefusal("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        name = (self.channels or {}).get(channel) or channel.lower()
        return {
            "channel": {
                "id": channel,
                "name": name,
                "is_channel": True,
                "is_private": False,
                "is_member": True,
            }
        }

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages, newest first, within ``oldest``/``latest`` and ``limit``."""
        channel = self._channel(args)
        found = [m for m in reversed(self.messages(channel)) if _within(m.ts, args)]
        return self._page(found, args)

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent first, then the replies oldest first."""
        channel = self._channel(args)
        parent = self._existing(channel, str(args.get("ts") or ""))
        root = parent.thread_ts if parent.is_reply else parent.ts
        thread = [self._existing(channel, root), *self.thread(channel, root)]
        return self._page([m for m in thread if _within(m.ts, args)], args)

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = self._existing(channel, str(args.get("timestamp") or "")).ts
        pinned = self.pins.setdefault(channel, [])
        if ts in pinned:
            raise SlackRefusal("already_pinned")
        pinned.append(ts)
        return {}

    def _pins_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """The channel's pinned messages, newest pin first."""
        channel = self._channel(args)
        found = [self._existing(channel, ts) for ts in reversed(self.pins.get(channel, []))]
        items = [
            {"type": "message", "channel": channel, "message": m.as_api(self.bot_id)} for m in found
        ]
        return {"items": items}

    def _page(self, found: list[SlackMessage], args: dict[str, Any]) -> dict[str, Any]:
        try:
            limit = int(args.get("limit") or 100)
        except ValueError:
            raise SlackRefusal("invalid_limit") from None
        with_metadata = _flag(args.get("include_all_metadata"))
        return {
            "messages": [m.as_api(self.bot_id, with_metadata=with_metadata) for m in found[:limit]],
            "has_more": len(found) > limit,
        }


def _metadata(value: Any) -> dict[str, Any] | None:
    """``metadata`` as Slack checks it: an ``event_type`` and an object ``event_payload``."""
    if value is None or value == "":
        return None
    if not isinstance(value, dict) or not isinstance(value.get("event_payload"), dict):
        raise SlackRefusal("invalid_metadata_format")
    if not isinstance(value.get("event_type"), str) or not value["event_type"]:
        raise SlackRefusal("invalid_metadata_format")
    return {"event_type": value["event_type"], "event_payload": dict(value["event_payload"])}


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _within(ts: str, args: dict[str, Any]) -> bool:
    """``oldest`` and ``latest`` bound a listing (exclusive, as Slack's default)."""
    oldest, latest = args.get("oldest"), args.get("latest")
    if oldest and float(ts) <= float(str(oldest)):
        return False
    return not (latest and float(ts) >= float(str(latest)))
