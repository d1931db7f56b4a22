"""The one way to the Slack Web API: every method the bot calls, paced, retried and counted.

The failure policy, in one place:

- **Retried**: by the client (``bot.outbound.client``): a 429 after Slack's ``Retry-After``,
  a 5xx or a dropped connection after a backoff. Nothing is retried here on top of that; a
  post that must reach Slack goes through the outbox (``bot.outbound.outbox``), which keeps
  it in the store and tries again, honouring ``Sent.retry_after``, until Slack takes it.
- **Logged and counted**: every call is counted in ``triagebot_slack_calls`` by method and
  outcome; a failure is logged once, here, with the method, the channel and Slack's error, and
  counted in ``triagebot_errors{kind="slack"}`` — except the answers that are part of normal
  work (``EXPECTED``, logged at INFO).
- **Seen by a person**: nothing raises into the caller. A ``Sent`` says whether Slack took the
  call and, if not, why; ``Sent.check`` turns a failure into a ``SlackRefused`` whose
  ``user_message`` says what did not arrive and why (the CLI prints it).

Exactly once: every post carries Slack message metadata (``triagebot_message``: a delivery
id, and what the message is — an incident key, a run id). A post whose outcome is unknown (the
client timed out, or the connection dropped after the request went out) is looked up in the
channel (``conversations.history``, or ``conversations.replies`` in a thread, recent messages
only) and the message found is adopted instead of posting again; one not found yet is looked
up again before the same delivery is posted again. The client never re-sends a post itself
(``bot.outbound.client``).

Pacing: posts and uploads wait for their channel's bucket (about one a second); edits
(``chat.update``) wait for the workspace's edit budget (about 50 a minute). An edit waiting for
its turn is replaced by a newer edit of the same message: only the latest content is sent, and
everyone who asked for one of the replaced edits is answered with the result of the one that
went out.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import BotError
from bot.metrics import Metrics
from bot.outbound.pacing import Budget, ChannelPacer, TokenBucket

log = logging.getLogger(__name__)

EXPECTED = frozenset({"hash_conflict"})
"""Slack errors that are part of normal work: ``views.update`` lost to a newer view."""
DEFAULT_EDITS_PER_MINUTE = 50  # chat.update is Tier 3, shared by the whole workspace
DEFAULT_EDIT_BURST = 5
_FAILURES = (TimeoutError, SlackClientError, OSError, aiohttp.ClientError)
_UNKNOWN_OUTCOME = (TimeoutError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
"""The request may have reached Slack and been done: only the channel can say."""
_TRANSIENT = frozenset({"ratelimited", "fatal_error", "internal_error", "service_unavailable"})
METADATA_TYPE = "triagebot_message"
LOOKUP_LIMIT = 100  # recent messages searched for a post whose outcome is unknown
THREAD_LIMIT = 1000  # messages of a thread read for its timeline (one page: Slack's most)
_READS = frozenset(
    {
        "usergroups.users.list",
        "conversations.history",
        "conversations.replies",
        "chat.getPermalink",
        "pins.list",
    }
)

Blocks = Sequence[Mapping[str, Any]]


class SlackRefused(BotError):
    """Slack did not take something that had to arrive (``Sent.check``)."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"Slack did not take {what}: {reason}")
        self.reason = reason  # Slack's error code, or the connection failure


@dataclass(frozen=True)
class Sent:
    """Slack's answer to one call, or why there is none."""

    ok: bool
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""  # Slack's error code, or the connection failure, when not ok
    uncertain: bool = False  # not ok, and Slack may have done it all the same
    refused: bool = False  # not ok because Slack said no: trying again changes nothing
    adopted: bool = False  # a post that timed out, found in the channel afterwards
    queued: bool = False  # not in Slack yet: the outbox has it and posts it when it can
    retry_after: float = 0.0  # Slack's Retry-After, in seconds, when it said "slow down"

    @property
    def ts(self) -> str:
        return str(self.data.get("ts") or "")

    def check(self, what: str) -> Sent:
        """This answer when Slack took the call; else raise ``SlackRefused`` naming ``what``."""
        if not self.ok:
            raise SlackRefused(what, self.error)
        return self


@dataclass
class _Edit:
    """An edit of one message waiting for its turn; a newer one replaces its arguments."""

    args: dict[str, Any]
    done: asyncio.Future[Sent]


class SlackSender:
    """Every Slack Web API call the bot makes."""

    def __init__(
        self,
        client: AsyncWebClient,
        metrics: Metrics,
        *,
        posts: ChannelPacer | None = None,
        edits: Budget | None = None,  # the workspace's edits; else a bucket of this process
        edits_per_minute: float = DEFAULT_EDITS_PER_MINUTE,
        edit_burst: int = DEFAULT_EDIT_BURST,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._posts = posts or ChannelPacer()
        self._edits = edits or TokenBucket(edits_per_minute / 60.0, edit_burst)
        self._waiting: dict[tuple[str, str], _Edit] = {}  # (channel, ts) -> the edit waiting
        self._uncertain: set[str] = set()  # deliveries whose post had an unknown outcome
        self._in_order: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def bolt_client(self) -> AsyncWebClient:
        """Bolt's own client (its ``ack``/``respond`` and Socket Mode's connection): the API
        URL only. The bot's calls go through this sender."""
        return AsyncWebClient(base_url=self._client.base_url)

    # messages

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        *,
        thread_ts: str | None = None,
        about: Mapping[str, str] | None = None,
        delivery: str = "",
        paced: bool = False,
    ) -> Sent:
        """``chat.postMessage`` (``text`` is the notification and fallback text), at most once;
        ``paced``: the caller has waited for the channel's turn already (``pace``).

        ``about`` says what the message is (``kind``, ``incident``, ``run_id``: its metadata);
        ``delivery`` names this message for good — posting the same delivery again (a retry
        of work whose earlier post had an unknown outcome) adopts the earlier message if it
        landed. Without one, the post gets a fresh delivery id."""
        delivery = delivery or uuid.uuid4().hex
        args: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if blocks:
            args["blocks"] = list(blocks)
        if thread_ts:
            args["thread_ts"] = thread_ts
        payload = {**(about or {}), "delivery": delivery}
        args["metadata"] = {"event_type": METADATA_TYPE, "event_payload": payload}
        if delivery in self._uncertain:
            found = await self.find(channel, delivery, thread_ts=thread_ts)
            if found is not None:
                return found
        if not paced:
            await self._posts.wait(channel)
        sent = await self._call("chat.postMessage", channel, args)
        if not sent.uncertain:
            self._uncertain.discard(delivery)
            return sent
        found = await self.find(channel, delivery, thread_ts=thread_ts)
        if found is not None:
            return found
        self._uncertain.add(delivery)  # it may still show up: look again before re-posting
        return sent

    async def pace(self, channel: str) -> None:
        """Wait for the channel's turn to be posted in: the next ``post(paced=True)`` uses it."""
        await self._posts.wait(channel)

    async def find(
        self, channel: str, delivery: str, *, thread_ts: str | None = None
    ) -> Sent | None:
        """The message this bot posted as ``delivery`` among the channel's (or the thread's)
        recent messages, as if its post had answered; None when it is not there (or Slack
        would not say)."""
        return (await self.look_for(channel, delivery, thread_ts=thread_ts))[1]

    async def look_for(
        self, channel: str, delivery: str, *, thread_ts: str | None = None
    ) -> tuple[bool, Sent | None]:
        """``find``, and whether Slack answered at all: (False, None) means nobody knows."""
        method = "conversations.replies" if thread_ts else "conversations.history"
        args = {"channel": channel, "include_all_metadata": "true", "limit": str(LOOKUP_LIMIT)}
        if thread_ts:
            args["ts"] = thread_ts
        listed = await self._call(method, channel, args)
        if not listed.ok:
            return False, None
        for message in listed.data.get("messages") or []:
            if isinstance(message, Mapping) and _delivery_of(message) == delivery:
                self._uncertain.discard(delivery)
                log.info(
                    "Slack took post %s in %s after all: %s", delivery, channel, message.get("ts")
                )
                self._metrics.slack_calls.labels("chat.postMessage", "adopted").inc()
                data = {"ok": True, "channel": channel, "ts": message.get("ts"), "message": message}
                return True, Sent(True, data, adopted=True)
        return True, None

    async def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> Sent:
        """``chat.update``, from the workspace's edit budget; the latest content wins."""
        args: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            args["blocks"] = list(blocks)
        key = (channel, ts)
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.args = args  # the older edit is never sent: this one goes in its place
            return await asyncio.shield(waiting.done)
        edit = _Edit(args, asyncio.get_running_loop().create_future())
        self._waiting[key] = edit
        result = Sent(False, error="cancelled")
        try:
            async with self._message_lock(key):  # one edit of a message at a time, in order
                await self._edits.take()
                if self._waiting.get(key) is edit:
                    del self._waiting[key]  # from here on a newer edit waits for its own turn
                result = await self._call("chat.update", channel, edit.args)
        finally:
            if self._waiting.get(key) is edit:
                del self._waiting[key]
            edit.done.set_result(result)
        return result

    async def ephemeral(
        self, channel: str, user: str, text: str, blocks: Blocks | None = None
    ) -> Sent:
        """``chat.postEphemeral``: seen only by ``user``."""
        args: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks:
            args["blocks"] = list(blocks)
        return await self._call("chat.postEphemeral", channel, args)

    async def upload(
        self,
        channel: str,
        *,
        content: str | bytes,
        filename: str,
        title: str,
        thread_ts: str | None = None,
    ) -> Sent:
        """A file in the channel (in ``thread_ts``'s thread), paced like a post."""
        args: dict[str, Any] = {
            "channel": channel,
            "content": content,
            "filename": filename,
            "title": title,
        }
        if thread_ts:
            args["thread_ts"] = thread_ts
        await self._posts.wait(channel)
        return await self._call("files.upload", channel, args)

    # modals and user groups

    async def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> Sent:
        return await self._call("views.open", "", {"trigger_id": trigger_id, "view": dict(view)})

    async def update_view(
        self, view_id: str, view: Mapping[str, Any], *, view_hash: str | None = None
    ) -> Sent:
        """``views.update``; with ``view_hash``, Slack refuses (``hash_conflict``) when the
        view changed since, so a stale update never overwrites a newer view."""
        args: dict[str, Any] = {"view_id": view_id, "view": dict(view)}
        if view_hash:
            args["hash"] = view_hash
        return await self._call("views.update", "", args)

    async def push_view(self, trigger_id: str, view: Mapping[str, Any]) -> Sent:
        return await self._call("views.push", "", {"trigger_id": trigger_id, "view": dict(view)})

    async def publish_view(self, user: str, view: Mapping[str, Any]) -> Sent:
        return await self._call("views.publish", "", {"user_id": user, "view": dict(view)})

    async def usergroup_members(self, group: str) -> frozenset[str] | None:
        """The members of a user group; None when Slack would not say."""
        sent = await self._call("usergroups.users.list", "", {"usergroup": group})
        if not sent.ok:
            return None
        return frozenset(str(u) for u in sent.data.get("users") or [])

    async def replies(self, channel: str, ts: str) -> list[Mapping[str, Any]] | None:
        """``conversations.replies``: the thread of ``ts`` (its parent first), up to
        ``THREAD_LIMIT`` messages; None when Slack would not say."""
        args = {"channel": channel, "ts": ts, "limit": str(THREAD_LIMIT)}
        sent = await self._call("conversations.replies", channel, args)
        if not sent.ok:
            return None
        return [m for m in sent.data.get("messages") or [] if isinstance(m, Mapping)]

    async def pinned(self, channel: str) -> frozenset[str] | None:
        """``pins.list`` (``pins:read``): the ts of the channel's pinned messages; None when
        Slack would not say."""
        sent = await self._call("pins.list", channel, {"channel": channel})
        if not sent.ok:
            return None
        items = [i for i in sent.data.get("items") or [] if isinstance(i, Mapping)]
        return frozenset(str((i.get("message") or {}).get("ts", "")) for i in items) - {""}

    async def permalink(self, channel: str, ts: str) -> str:
        """``chat.getPermalink``: a link to message ``ts`` (an incident's thread); "" when Slack
        would not say (the message is gone, Slack is down). Needs no scope."""
        args = {"channel": channel, "message_ts": ts}
        sent = await self._call("chat.getPermalink", channel, args)
        link = str(sent.data.get("permalink") or "") if sent.ok else ""
        return link if link.startswith("https://") else ""

    # the one call

    async def _call(self, method: str, channel: str, args: dict[str, Any]) -> Sent:
        try:
            if method == "files.upload":
                response = await self._client.files_upload_v2(**args)
            elif method in _READS:  # Slack reads these from a query string, not JSON
                response = await self._client.api_call(method, http_verb="GET", params=args)
            else:
                response = await self._client.api_call(method, json=args)
        except _FAILURES as exc:
            reason = _reason(exc)
            self._metrics.slack_calls.labels(method, "error").inc()
            where = f" for channel {channel}" if channel else ""
            if reason in EXPECTED:
                log.info("Slack %s%s: %s", method, where, reason)
            else:
                log.error("Slack %s failed%s: %s", method, where, reason)
                self._metrics.errors.labels("slack").inc()
            return Sent(
                False,
                error=reason,
                uncertain=isinstance(exc, _UNKNOWN_OUTCOME),
                refused=_is_refusal(exc),
                retry_after=_retry_after(exc),
            )
        self._metrics.slack_calls.labels(method, "ok").inc()
        data = response.data
        return Sent(True, data if isinstance(data, dict) else {})

    def _message_lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._in_order.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._in_order[key] = lock
        return lock


def _is_refusal(exc: BaseException) -> bool:
    """Slack answered, and no: not a 5xx, not a rate limit, not a token Slack is unsure of."""
    if not isinstance(exc, SlackApiError):
        return False
    return exc.response.status_code == 200 and exc.response.get("error") not in _TRANSIENT


def _retry_after(exc: BaseException) -> float:
    if not isinstance(exc, SlackApiError):
        return 0.0
    headers = exc.response.headers or {}
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _delivery_of(message: Mapping[str, Any]) -> str:
    metadata = message.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != METADATA_TYPE:
        return ""
    payload = metadata.get("event_payload")
    return str(payload.get("delivery") or "") if isinstance(payload, Mapping) else ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc)
    return str(exc) or type(exc).__name__
