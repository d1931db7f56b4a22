"""Hand-off to paging: an incident on a route with ``page = "pagerduty"`` that nobody
acknowledges within the route's ``page_after`` is triggered in PagerDuty (Events API v2,
``bot/incidents/pagerduty.py``); *Acknowledge* in Slack then sends ``acknowledge`` and the OK
``resolve``. The thread says when it paged and what PagerDuty answered, or that paging failed.

What is waiting or paged is one record in the store's schedule table (``paging:incidents``, a
JSON list changed by compare-and-set): written when the incident opens, looked at every
``Timings.paging_poll`` by every replica, so a restart or another replica pages on time. Each
step for an incident is taken under a lease, and re-read under it, so one replica sends it; the
dedup key (``<incident key>@<opened at>``) makes a repeat after a crash harmless anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.alarms.model import Alarm
from bot.alarms.routing import route
from bot.config import Settings
from bot.errors import RetryLater
from bot.incidents import messages as msg
from bot.incidents.changes import CAS_ATTEMPTS, is_muted, thread_of
from bot.incidents.pagerduty import Action, Answer, Event, EventsApi
from bot.incidents.threads import Threads
from bot.leases import HeldLeases, held_lease
from bot.metrics import Metrics
from bot.outbound.outbox import Outbox
from bot.outbound.sender import SlackSender
from bot.render.mrkdwn import escape
from bot.store.base import Incident, Store
from bot.tasks import BackgroundLoop
from bot.timings import Timings

log = logging.getLogger(__name__)

JOB = "paging:incidents"
State = Literal["waiting", "paged", "acknowledged"]


@dataclass(frozen=True)
class Page:
    """One incident waiting to be paged (``due``), or paged (and maybe acknowledged)."""

    key: str
    opened: str  # the incident's opened_at, ISO: which incident of the key
    due: str  # ISO
    state: State = "waiting"
    channel: str = ""  # where its thread is, once paged (a later incident may reuse the key)
    thread: str = ""

    @property
    def dedup_key(self) -> str:
        return f"{self.key}@{self.opened}"


class Paging:
    """Pages incidents nobody acknowledged, and tells PagerDuty when they are acknowledged
    or resolved."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        sender: SlackSender,
        metrics: Metrics,
        held: HeldLeases,
        *,
        timings: Timings,
        clock: Callable[[], datetime],
        outbox: Outbox,
    ) -> None:
        self._settings = settings
        self._store = store
        self._sender = sender
        self._threads = Threads(sender, store, clock, outbox=outbox)  # its posts must arrive
        self._metrics = metrics
        self._timings = timings
        self._clock = clock
        self._held = held
        self._owner = f"paging-{uuid.uuid4().hex[:12]}"
        self._loop = BackgroundLoop("paging")
        self._api = _events_api(settings, timings)
        self._waiting: list[asyncio.Future[None]] = []  # next_tick's

    async def opened(self, incident: Incident, alarm: Alarm) -> None:
        """An incident opened: if its route pages, it is due ``page_after`` from its opening."""
        decision = route(alarm, self._settings.routes, self._settings.slack.default_channel)
        if self._api is None or decision.route_index is None:
            return
        chosen = self._settings.routes[decision.route_index]
        if not chosen.page:
            return
        due = incident.opened_at + chosen.page_after
        page = Page(incident.key, incident.opened_at.isoformat(), due.isoformat())
        await self._set(page)

    def start(self) -> None:
        if self._api is not None:
            self._loop.start(self._forever)

    async def stop(self) -> None:
        await self._loop.stop()

    async def tick(self) -> None:
        """Take the next step of every incident in the record, one after another."""
        try:
            pages = await self._pages()
        except Exception:  # the store briefly unavailable: the next tick reads it again
            log.warning("could not read what is to be paged", exc_info=True)
            pages = []
        for page in pages:
            try:
                await self._step(page)
            except Exception:  # the store or Slack briefly unavailable: the next tick retries
                log.warning("paging %s failed; trying again", page.key, exc_info=True)
                self._metrics.errors.labels("paging").inc()
        waiting, self._waiting = self._waiting, []
        for future in waiting:
            if not future.done():
                future.set_result(None)

    async def next_tick(self) -> None:
        """Until a tick (the one running, or the next) has looked at every incident: a signal
        to wait on."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        await future

    async def _forever(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self._timings.paging_poll.total_seconds())

    async def _step(self, page: Page) -> None:
        lease = f"paging:{page.dedup_key}"
        ttl = self._timings.paging_timeout * (self._timings.paging_attempts + 1)
        async with held_lease(
            self._store, lease, self._owner, ttl, self._clock, self._held
        ) as ours:
            if not ours:
                return  # another replica is on it
            fresh = next((p for p in await self._pages() if p.dedup_key == page.dedup_key), None)
            if fresh is None:
                return  # done (or replaced) while we waited
            await self._advance(fresh)

    async def _advance(self, page: Page) -> None:
        incident = await self._store.incident_get(page.key)
        if incident is not None and incident.opened_at.isoformat() != page.opened:
            incident = None  # the key's incident we paged for is over; another has opened
        if incident is None or not incident.is_open:
            if page.state != "waiting":
                await self._send(page, "resolve", "📟 Resolved in PagerDuty too")
            await self._forget(page)
        elif incident.acknowledged_by or (
            page.state == "waiting" and is_muted(incident, self._clock())
        ):
            if page.state == "paged":
                await self._send(page, "acknowledge", "📟 Acknowledged in PagerDuty too")
                await self._set(replace(page, state="acknowledged"))
            elif page.state == "waiting":  # acknowledged (or muted) in time: nobody is paged
                await self._forget(page)
        elif page.state == "waiting" and self._clock() >= datetime.fromisoformat(page.due):
            await self._trigger(page, incident)

    async def _trigger(self, page: Page, incident: Incident) -> None:
        thread = thread_of(incident)
        paged = replace(page, channel=incident.channel, thread=thread)
        link = await self._sender.permalink(incident.channel, thread) if thread else ""
        summary = f"{incident.alarm_name} is {incident.state} (triagebot: {incident.key})"
        now = self._clock().astimezone(UTC)
        waited = now - datetime.fromisoformat(page.opened)
        answer = await self._send(
            paged,
            "trigger",
            f"📟 Paged PagerDuty at {now:%H:%M} UTC: nobody acknowledged this incident in "
            f"{_minutes(waited)}",
            summary=summary,
            link=link,
        )
        if answer.ok:
            await self._set(replace(paged, state="paged"))
        else:  # said in the thread; paging it again would only fail again
            await self._forget(page)

    async def _send(
        self, page: Page, action: Action, done: str, *, summary: str = "", link: str = ""
    ) -> Answer:
        assert self._api is not None
        event = Event(action, page.dedup_key, summary, source="triagebot", link=link)
        answer = await self._api.send(event)
        said = escape(answer.message)
        if answer.ok:
            log.info("PagerDuty %s of %s: %s", action, page.dedup_key, answer.message)
            text = f"{done}. PagerDuty said: {said}."
        else:
            log.error("PagerDuty %s of %s failed: %s", action, page.dedup_key, answer.message)
            self._metrics.errors.labels("paging").inc()
            tries = "once" if answer.attempts == 1 else f"{answer.attempts} times"
            text = (
                f"⚠️ Could not {action} this incident in PagerDuty (tried {tries}): {said}. "
                "Reach the on-call another way."
            )
        if page.thread:
            await self._threads.post(page.channel, msg.SlackText(text), page.thread)
        return answer

    async def _set(self, page: Page) -> None:
        """Add ``page`` to the record, or put it in place of what it was."""
        await self._edit(lambda pages: [*(p for p in pages if p.dedup_key != page.dedup_key), page])

    async def _forget(self, page: Page) -> None:
        await self._edit(lambda pages: [p for p in pages if p.dedup_key != page.dedup_key])

    async def _pages(self) -> list[Page]:
        return _parse(await self._store.schedule_get(JOB))

    async def _edit(self, edit: Callable[[list[Page]], list[Page]]) -> None:
        for _ in range(CAS_ATTEMPTS):
            raw = await self._store.schedule_get(JOB)
            if await self._store.schedule_cas(JOB, raw, _dump(edit(_parse(raw)))):
                return
        raise RetryLater("the paging record kept changing", self._timings.store_retry)


def _events_api(settings: Settings, timings: Timings) -> EventsApi | None:
    key = settings.secrets.pagerduty_routing_key
    if settings.paging is None or key is None:
        return None
    return EventsApi(
        settings.paging.url,
        key,
        timeout=timings.paging_timeout,
        backoff=timings.paging_backoff,
        attempts=timings.paging_attempts,
    )


def _parse(raw: str | None) -> list[Page]:
    return [Page(**item) for item in json.loads(raw)] if raw else []


def _dump(pages: list[Page]) -> str:
    return json.dumps([asdict(page) for page in pages])


def _minutes(waited: timedelta) -> str:
    seconds = max(0, int(waited.total_seconds()))
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"
