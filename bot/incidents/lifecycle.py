"""Alarm → Slack thread: one live thread per alarm incident (account + region + alarm name).

The first ALARM of an incident posts a root message with buttons; the routed playbook's result
and a chart of the alarm's metric go in its thread. Repeats and notes reply in the thread; an OK
replies, edits the root to resolved and closes the incident, so the next ALARM opens a new one.

State follows each message's state-change time, not its arrival: a message older than what was
already seen for its key changes nothing. The store's conditional writes (``incident_create``,
compare-and-set ``incident_update``) and a per-key lock in the process make sure one root is
posted per incident, however many copies of a message arrive at once. Slack failing never
raises: the store keeps ``root_ts == ""`` and the next delivery for the key posts the root.

Besides the incident rows, three small records live in the store's schedule table:
``incident-last:<key>`` (the latest state-change time seen for the key, so that an ALARM older
than an OK already seen does not open anything), ``incident-alarm:<key>`` (the alarm that opened
the key's latest incident: what the root shows when a button edits it, and what *Re-run* runs
against) and ``incident-storm:<route>`` (a route's storm message and the alarms listed in it).
The first changes only by compare-and-set (``schedule_cas``), re-read on conflict, so that
replicas writing at once never move it back. Storm messages and their record are
``bot/incidents/storm.py``.

Storms are counted per route, and a route is named ``<channel>/<playbook>``: alarms that land
on the same playbook in the same channel are one storm, whichever ``[[routes]]`` entry matched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.alarms.model import Alarm, AlarmSource
from bot.alarms.routing import RouteDecision, route
from bot.aws import AwsClients
from bot.config import Settings
from bot.errors import BotError, RetryLater
from bot.incidents import messages as msg
from bot.incidents.chart import alarm_chart_png, chart_filename, fetch_alarm_metric
from bot.incidents.records import alarm_from_json, alarm_to_json
from bot.incidents.storm import StormMessages
from bot.metrics import Metrics
from bot.outbound.client import ChannelPacer
from bot.playbooks.catalog import Catalog
from bot.playbooks.params import resolve_params
from bot.runs import RunRequest, SlackRuns
from bot.slack.access import AccessPolicy
from bot.store.base import Incident, Store
from bot.timings import DEFAULTS, Timings

log = logging.getLogger(__name__)

MUTE_FOR = timedelta(hours=1)
LAST_SEEN = "incident-last:"
ALARM_SNAPSHOT = "incident-alarm:"
_CAS_ATTEMPTS = 5
_SLACK_FAILURES = (TimeoutError, SlackClientError, OSError, aiohttp.ClientError)

FollowUp = Callable[[], Awaitable[None]]
"""Work done after the key's lock is released (the playbook run, the chart)."""


class Phase(StrEnum):
    """What a message does to its incident."""

    FIRING = "firing"  # ALARM; Health open or upcoming
    CLEARED = "cleared"  # OK; Health closed
    NOTE = "note"  # INSUFFICIENT_DATA and anything else: a note in the thread


def phase_of(alarm: Alarm) -> Phase:
    state = alarm.state.upper()
    if alarm.source is AlarmSource.HEALTH:
        return Phase.CLEARED if state == "CLOSED" else Phase.FIRING
    if state == "ALARM":
        return Phase.FIRING
    return Phase.CLEARED if state == "OK" else Phase.NOTE


def route_name(decision: RouteDecision) -> str:
    """What storms are counted by: the channel and playbook the alarm lands on."""
    return f"{decision.channel}/{decision.playbook}"


class Incidents:
    """The alarm → thread lifecycle, and the buttons on incident root messages."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        store: Store,
        client: AsyncWebClient,
        pacer: ChannelPacer,
        runs: SlackRuns,
        metrics: Metrics,
        aws: AwsClients,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timings: Timings = DEFAULTS,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._store = store
        self._client = client
        self._pacer = pacer
        self._runs = runs
        self._metrics = metrics
        self._aws = aws
        self._clock = clock
        self._timings = timings  # root lease and how soon to retry
        self._access = AccessPolicy(settings.access, client)
        self._owner = f"incidents-{uuid.uuid4().hex[:12]}"  # who holds a root lease
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._storms = StormMessages(
            settings=settings,
            store=store,
            slack_post=self._post,
            slack_update=self._update,
            lock=self._lock,
            owner=self._owner,
            lease=timings.storm_lease,
            retry=timings.store_retry,
            clock=clock,
        )

    # alarms

    async def handle(self, alarm: Alarm) -> None:
        """Apply one alarm message to its incident. Never raises for Slack; a store failure
        propagates so that the message is delivered again."""
        if alarm.source is AlarmSource.NOTIFICATION:
            await self.post_notification(alarm)
            return
        async with self._lock(alarm.incident_key):
            follow_ups = await self._apply(alarm)
        # The incident is saved by now; a follow-up failing is logged, not raised.
        outcomes = await asyncio.gather(*(f() for f in follow_ups), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                log.error("after opening %s", alarm.incident_key, exc_info=outcome)
                self._metrics.errors.labels("incident").inc()

    async def post_notification(self, alarm: Alarm) -> None:
        """Post a plain notification (subject and text) to the default channel."""
        channel = self._settings.slack.default_channel
        if not channel:
            log.error("no [slack] default_channel for notification %r", alarm.name)
            self._metrics.errors.labels("incident").inc()
            return
        await self._post(channel, msg.notification_message(alarm))

    async def _apply(self, alarm: Alarm) -> list[FollowUp]:
        key = alarm.incident_key
        when = _utc(alarm.changed_at or self._clock())
        if not await self._see(alarm, when):
            return []
        current = await self._store.incident_get(key)
        open_ = current if current is not None and current.is_open else None
        if open_ is not None and when < open_.state_changed_at:
            log.info("%s of %s is older than the incident's state: ignored", alarm.state, key)
            return []
        phase = phase_of(alarm)
        if phase is Phase.FIRING:
            if open_ is None:
                return await self._open(alarm, when, current)
            return await self._still_firing(open_, alarm, when)
        if open_ is None:
            if phase is Phase.CLEARED and current is not None and current.resolved_at == when:
                await self._edit_root(current)  # the same OK again: make sure the root shows it
            else:
                log.info("%s for %s with no open incident: nothing to update", alarm.state, key)
            return []
        if phase is Phase.CLEARED:
            await self._resolve(open_, alarm, when)
        else:
            await self._note(open_, alarm, when)
        return []

    async def _see(self, alarm: Alarm, when: datetime) -> bool:
        """Move the key's latest state-change time forward to ``when`` (compare-and-set, so it
        never goes back, whichever replica writes); False when a newer one was seen: this
        message is the older one and changes nothing."""
        key = alarm.incident_key
        for _ in range(_CAS_ATTEMPTS):
            last = await self._store.schedule_get(LAST_SEEN + key)
            if last is not None:
                seen = datetime.fromisoformat(last)
                if when < seen:
                    log.info(
                        "%s of %s at %s is older than %s: ignored", alarm.state, key, when, last
                    )
                    return False
                if when == seen:
                    return True
            if await self._store.schedule_cas(LAST_SEEN + key, last, when.isoformat()):
                return True
        raise RetryLater(f"the last state change of {key} kept changing", self._timings.store_retry)

    async def _open(
        self, alarm: Alarm, when: datetime, previous: Incident | None
    ) -> list[FollowUp]:
        """A new incident: its row first (one winner), then its root message."""
        decision = route(alarm, self._settings.routes, self._settings.slack.default_channel)
        now = self._clock()
        muted = previous is not None and _muted(previous, now)
        incident = Incident(
            key=alarm.incident_key,
            route=route_name(decision),
            channel=decision.channel,
            root_ts=previous.root_ts if previous and muted else "",
            state=alarm.state,
            opened_at=when,
            state_changed_at=when,
            alarm_name=alarm.name,
            muted_until=previous.muted_until if previous and muted else None,
            storm_root_ts=previous.storm_root_ts if previous and muted else "",
        )
        await self._store.schedule_set(ALARM_SNAPSHOT + incident.key, alarm_to_json(alarm))
        if not await self._store.incident_create(incident):
            log.info("incident %s is already open elsewhere; not opening another", incident.key)
            return []
        thread = _thread(incident)
        if muted and thread and incident.muted_until is not None:
            # Flapping while muted: back into the muted thread, no new root and no run.
            await self._post(
                incident.channel, msg.firing_again(alarm, incident.muted_until), thread
            )
            await self._edit_root(incident)
            return []
        return await self._post_root(incident, alarm)

    async def _post_root(self, incident: Incident, alarm: Alarm) -> list[FollowUp]:
        """The root message (or a place in the route's storm message); the run and the chart
        follow once the lock is released."""
        lease = f"incident-root:{incident.key}@{incident.opened_at.isoformat()}"
        root_lease = self._timings.root_lease
        if not await self._store.lease_acquire(lease, self._owner, root_lease, self._clock()):
            # Another replica is posting it — or was, and died (its lease runs out): look again.
            raise RetryLater(f"another replica is posting the root of {incident.key}", root_lease)
        try:
            fresh = await self._store.incident_get(incident.key)
            if fresh is None or fresh.opened_at != incident.opened_at or _thread(fresh):
                return []  # posted (or replaced) while we waited for the lease
            ts = await self._post_root_message(fresh, alarm)
        finally:
            await self._store.lease_release(lease, self._owner)
        if ts is None:
            # Slack did not take it: root_ts stays "", and a retry (or a later delivery) posts it.
            raise RetryLater(
                f"Slack did not take the root of {incident.key}", self._timings.slack_retry
            )
        if not ts:
            return []

        async def run() -> None:
            await self._run_playbook(alarm, incident.channel, ts, user="alarm", source="alarm")

        async def chart() -> None:
            await self._post_chart(alarm, incident.channel, ts)

        return [run, chart]

    async def _post_root_message(self, incident: Incident, alarm: Alarm) -> str | None:
        """Post the root and save its ts; "" when the incident joined a storm, None when Slack
        failed (then ``root_ts`` stays "" and a retry posts it)."""
        since = incident.opened_at - self._settings.alarms.storm_window
        opened = await self._store.incidents_opened_since(incident.route, since)
        if opened > self._settings.alarms.storm_threshold:
            await self._join_storm(incident, alarm)
            return ""
        response = await self._post(
            incident.channel, msg.root_message(alarm, incident, self._clock())
        )
        if response is None:
            return None
        ts = str(response["ts"])
        if await self._change(incident, lambda i: dataclasses.replace(i, root_ts=ts)) is None:
            log.error("root %s of incident %s posted but not saved", ts, incident.key)
            self._metrics.errors.labels("incident").inc()
        return ts

    async def _still_firing(self, open_: Incident, alarm: Alarm, when: datetime) -> list[FollowUp]:
        if not _thread(open_):
            log.info("incident %s has no root yet; posting it now", open_.key)
            await self._store.schedule_set(ALARM_SNAPSHOT + open_.key, alarm_to_json(alarm))
            changed = await self._change(open_, _at_state(alarm, when))
            return await self._post_root(changed or open_, alarm)
        if when == open_.state_changed_at and alarm.state == open_.state:
            log.info("%s %s of %s seen before: nothing to do", alarm.state, when, open_.key)
            return []
        changed = await self._change(open_, _at_state(alarm, when))
        if changed is not None:
            await self._post(open_.channel, msg.still_firing(alarm), _thread(open_))
        return []

    async def _resolve(self, open_: Incident, alarm: Alarm, when: datetime) -> None:
        def resolved(incident: Incident) -> Incident:
            return dataclasses.replace(_at_state(alarm, when)(incident), resolved_at=when)

        changed = await self._change(open_, resolved)
        if changed is None:
            log.warning("incident %s changed under us; its OK was not applied", open_.key)
            return
        thread = _thread(changed)
        if not thread:
            await self._post_resolved_root(changed, alarm)
            return
        reply = msg.resolved_reply(alarm, when - changed.opened_at)
        await self._post(changed.channel, reply, thread)
        await self._edit_root(changed)
        if changed.storm_root_ts and not changed.root_ts:
            await self._storms.update_entry(changed, alarm)

    async def _post_resolved_root(self, incident: Incident, alarm: Alarm) -> None:
        """The root never made it to Slack and the alarm is over: say so once, resolved."""
        opening = await self._snapshot(incident.key) or alarm
        response = await self._post(
            incident.channel, msg.root_message(opening, incident, self._clock())
        )
        if response is not None:
            ts = str(response["ts"])
            await self._change(incident, lambda i: dataclasses.replace(i, root_ts=ts))

    async def _note(self, open_: Incident, alarm: Alarm, when: datetime) -> None:
        if when == open_.state_changed_at and alarm.state == open_.state:
            return
        changed = await self._change(open_, _at_state(alarm, when))
        thread = _thread(open_)
        if changed is not None and thread:
            await self._post(open_.channel, msg.note_reply(alarm), thread)

    # storms

    async def _join_storm(self, incident: Incident, alarm: Alarm) -> None:
        """Coalesce the incident into its route's storm message; its replies go in that thread."""
        ts = await self._storms.join(incident, alarm)
        if not ts:
            return  # nothing saved: the next delivery for this key tries again
        await self._change(incident, lambda i: dataclasses.replace(i, storm_root_ts=ts))
        await self._post(incident.channel, msg.storm_reply(alarm), ts)

    # buttons

    async def on_button(self, body: Mapping[str, Any]) -> None:
        """One block_actions payload with ``incident_*`` buttons. Never raises."""
        user = str((body.get("user") or {}).get("id", ""))
        channel = str(
            (body.get("channel") or {}).get("id", "")
            or (body.get("container") or {}).get("channel_id", "")
        )
        for action in body.get("actions") or []:
            action_id = str(action.get("action_id", ""))
            if not action_id.startswith(msg.ACTION_PREFIX):
                continue
            try:
                refusal = await self._button(action_id, str(action.get("value", "")), user, channel)
            except BotError as exc:
                refusal = exc.user_message
            except Exception:
                log.exception("incident button %s failed", action_id)
                self._metrics.errors.labels("button").inc()
                refusal = "Something went wrong on triagebot's side; the details are in its log."
            if refusal:
                await self._ephemeral(channel, user, refusal)

    async def _button(self, action_id: str, key: str, user: str, channel: str) -> str | None:
        """Do what the button says; return why not (for the person who pressed it), or None."""
        refused = self._access.channel_refusal(channel)
        if refused:
            return refused
        incident = await self._store.incident_get(key)
        if incident is None:
            return "triagebot has no record of this incident any more."
        if action_id == msg.RERUN_ACTION:
            return await self._rerun(incident, user, channel)
        if action_id not in (msg.ACK_ACTION, msg.MUTE_ACTION):
            return None
        if not incident.is_open:
            return "This incident is already resolved."
        if action_id == msg.ACK_ACTION:
            changed = await self._change(
                incident, lambda i: dataclasses.replace(i, acknowledged_by=user)
            )
        else:
            until = self._clock() + MUTE_FOR
            changed = await self._change(
                incident, lambda i: dataclasses.replace(i, muted_until=until)
            )
            if changed is not None and _thread(changed):
                await self._post(changed.channel, msg.muted_reply(user, until), _thread(changed))
        if changed is None:
            return "The incident changed while you pressed the button; please try again."
        await self._edit_root(changed)
        return None

    async def _rerun(self, incident: Incident, user: str, channel: str) -> str | None:
        alarm = await self._snapshot(incident.key)
        if alarm is None:
            return "The alarm of this incident is no longer known; run `/triage alarm <name>`."
        decision = route(alarm, self._settings.routes, self._settings.slack.default_channel)
        refused = await self._access.refusal(self._catalog.get(decision.playbook), user, channel)
        if refused:
            return refused
        thread = _thread(incident) or None
        await self._run_playbook(alarm, incident.channel, thread, user=user, source="button")
        return None

    # playbook and chart

    async def _run_playbook(
        self, alarm: Alarm, channel: str, thread_ts: str | None, *, user: str, source: str
    ) -> None:
        decision = route(alarm, self._settings.routes, self._settings.slack.default_channel)
        try:
            playbook = self._catalog.get(decision.playbook)
            params = resolve_params(
                playbook, {}, {"alarm": alarm.template_context(), "now": self._clock()}
            )
        except BotError as exc:
            log.warning("playbook %s for %s cannot run: %s", decision.playbook, alarm.name, exc)
            await self._post(channel, msg.playbook_failed(exc.user_message), thread_ts)
            return
        await self._runs.run(
            RunRequest(
                playbook=playbook,
                params=params,
                raw_params={"alarm": alarm.name, "state": alarm.state},
                channel=channel,
                user=user,
                source=source,
                thread_ts=thread_ts,
                alarm=alarm,
            )
        )

    async def _post_chart(self, alarm: Alarm, channel: str, thread_ts: str) -> None:
        try:
            points = await fetch_alarm_metric(self._aws, alarm, self._clock())
        except Exception as exc:  # AWS said no: the thread does without a chart
            log.warning("no chart for %s: %s", alarm.name, exc)
            return
        if points is None:
            log.info("no chart for %s: no single metric or no datapoints", alarm.name)
            return
        try:
            loop = asyncio.get_running_loop()
            png = await loop.run_in_executor(None, alarm_chart_png, alarm, points)
        except Exception:
            log.exception("drawing the chart of %s failed", alarm.name)
            self._metrics.errors.labels("chart").inc()
            return
        await self._slack(
            "files.upload",
            channel,
            thread_ts=thread_ts,
            content=png,
            filename=chart_filename(alarm),
            title=f"{alarm.name}: last 3 hours",
        )

    # the store

    async def _change(
        self, incident: Incident, edit: Callable[[Incident], Incident]
    ) -> Incident | None:
        """Apply ``edit`` with compare-and-set, re-reading on conflict; None if the incident
        is gone (resolved and replaced by another) or kept changing."""
        current = incident
        for _ in range(_CAS_ATTEMPTS):
            changed = edit(current)
            if await self._store.incident_update(changed, current.version):
                return dataclasses.replace(changed, version=current.version + 1)
            fresh = await self._store.incident_get(current.key)
            if fresh is None or fresh.opened_at != current.opened_at:
                return None
            current = fresh
        return None

    async def _snapshot(self, key: str) -> Alarm | None:
        raw = await self._store.schedule_get(ALARM_SNAPSHOT + key)
        return alarm_from_json(raw) if raw else None

    # Slack

    async def _edit_root(self, incident: Incident) -> None:
        if not incident.root_ts:
            return
        alarm = await self._snapshot(incident.key)
        if alarm is None:
            return
        text = msg.root_message(alarm, incident, self._clock())
        await self._update(incident.channel, incident.root_ts, text)

    async def _post(
        self, channel: str, text: msg.SlackText, thread_ts: str | None = None
    ) -> Mapping[str, Any] | None:
        args: dict[str, Any] = {"text": text.text, "unfurl_links": False}
        if text.blocks:
            args["blocks"] = text.blocks
        if thread_ts:
            args["thread_ts"] = thread_ts
        return await self._slack("chat.postMessage", channel, **args)

    async def _update(self, channel: str, ts: str, text: msg.SlackText) -> None:
        await self._slack("chat.update", channel, ts=ts, text=text.text, blocks=text.blocks)

    async def _ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._slack("chat.postEphemeral", channel, user=user, text=text)

    async def _slack(self, method: str, channel: str, **kwargs: Any) -> Mapping[str, Any] | None:
        """One paced Web API call; None (logged and counted) when Slack fails."""
        await self._pacer.wait(channel)
        try:
            if method == "files.upload":
                response = await self._client.files_upload_v2(channel=channel, **kwargs)
            else:
                response = await self._client.api_call(method, json={"channel": channel, **kwargs})
        except _SLACK_FAILURES as exc:
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            log.error("Slack %s failed for channel %s: %s", method, channel, reason)
            self._metrics.slack_calls.labels(method, "error").inc()
            self._metrics.errors.labels("slack").inc()
            return None
        self._metrics.slack_calls.labels(method, "ok").inc()
        data = response.data
        return data if isinstance(data, dict) else {}

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[name] = lock
        return lock


def _thread(incident: Incident) -> str:
    """The thread the incident's replies go in: its own root, or its storm's."""
    return incident.root_ts or incident.storm_root_ts


def _muted(incident: Incident, now: datetime) -> bool:
    return incident.muted_until is not None and incident.muted_until > now


def _at_state(alarm: Alarm, when: datetime) -> Callable[[Incident], Incident]:
    def edit(incident: Incident) -> Incident:
        return dataclasses.replace(incident, state=alarm.state, state_changed_at=when)

    return edit


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
