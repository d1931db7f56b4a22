"""Has this happened before? When an incident's root is posted, its thread's first reply says
how often the same alarm fired in the window (``[history] window``, 30 days by default) and,
apart from it, which other alarms on the same resource did: counts, times to resolve, the
latest with a link to its thread (``chat.getPermalink``) and who acknowledged it. Every line
comes from the store and Slack. A route with ``history = false`` goes without; an incident with
nothing before it gets no reply.

The alarms on a resource are kept in the store's schedule table as ``incident-resource:<id>``
(the keys of the latest alarms seen on it, newest first), written by compare-and-set when an
incident opens; a resource is named by the first of the alarm's dimensions that names one (a
load balancer, an instance, a function, a database, ...) in its account and region.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from bot.alarms.model import Alarm
from bot.alarms.routing import route
from bot.config import Settings
from bot.incidents.changes import CAS_ATTEMPTS, thread_of
from bot.incidents.history_text import (
    LISTED,
    OTHER_ALARMS,
    OtherAlarm,
    Past,
    Recall,
    cadence,
    history_reply,
)
from bot.incidents.threads import Threads
from bot.metrics import Metrics
from bot.outbound.sender import SlackSender
from bot.render.mrkdwn import escape
from bot.store.base import Incident, Store

log = logging.getLogger(__name__)

RESOURCE_INDEX = "incident-resource:"
KEYS_KEPT = 20  # alarms remembered per resource
PER_ALARM = 200  # incidents of one alarm read from the window, at most
# The dimensions that name the resource an alarm is on, and what a person calls it.
RESOURCE_DIMENSIONS = {
    "LoadBalancer": "load balancer",
    "InstanceId": "instance",
    "FunctionName": "function",
    "DBInstanceIdentifier": "DB instance",
    "DBClusterIdentifier": "DB cluster",
    "AutoScalingGroupName": "Auto Scaling group",
    "QueueName": "queue",
    "TableName": "table",
}

FollowUp = Callable[[], Awaitable[None]]


def resource_of(alarm: Alarm) -> tuple[str, str]:
    """``("123…/us-east-1/LoadBalancer=app/prod/1", "load balancer `app/prod/1`")``, or
    ``("", "")`` for an alarm on no resource we know."""
    for dimension, words in RESOURCE_DIMENSIONS.items():
        value = alarm.dimensions.get(dimension, "")
        if value:
            return f"{alarm.account}/{alarm.region}/{dimension}={value}", (
                f"{words} `{escape(value)}`"
            )
    return "", ""


class History:
    """Remembers which alarms fired on which resource, and tells a new thread what it knows."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        sender: SlackSender,
        threads: Threads,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._store = store
        self._sender = sender
        self._threads = threads
        self._metrics = metrics

    async def opened(self, incident: Incident, alarm: Alarm) -> None:
        """Note that the incident's alarm fired on its resource (newest first)."""
        resource, _ = resource_of(alarm)
        if not resource:
            return
        name = RESOURCE_INDEX + resource
        for _ in range(CAS_ATTEMPTS):
            raw = await self._store.schedule_get(name)
            keys = [str(k) for k in json.loads(raw)] if raw else []
            if keys[:1] == [incident.key]:
                return
            kept = [incident.key, *(k for k in keys if k != incident.key)][:KEYS_KEPT]
            if await self._store.schedule_cas(name, raw, json.dumps(kept)):
                return
        log.warning("the alarms on %s kept changing; %s not noted", resource, incident.key)

    def first(
        self, incident: Incident, alarm: Alarm, root_ts: str, follow_ups: Sequence[FollowUp]
    ) -> list[FollowUp]:
        """``follow_ups``, each waiting for the history reply: it is the thread's first."""
        lock = asyncio.Lock()
        told: list[bool] = []

        async def tell_once() -> None:
            async with lock:
                if told:
                    return
                told.append(True)
                try:
                    await self.reply(incident, alarm, root_ts)
                except Exception:  # the run and the chart go on without it
                    log.exception("no history for %s", incident.key)
                    self._metrics.errors.labels("incident").inc()

        def after(follow_up: FollowUp) -> FollowUp:
            async def run() -> None:
                await tell_once()
                await follow_up()

            return run

        return [after(f) for f in follow_ups]

    async def reply(self, incident: Incident, alarm: Alarm, root_ts: str) -> None:
        """Post what the window holds in the thread of ``root_ts``; nothing when it is empty."""
        if not self._wanted(alarm):
            return
        recall = await self.recall(incident, alarm)
        if not recall.same and not recall.others:
            return
        await self._threads.post(incident.channel, history_reply(recall), root_ts)

    async def recall(self, incident: Incident, alarm: Alarm) -> Recall:
        """The incidents the window holds for ``incident``, with links where they are shown."""
        window = self._settings.history.window
        since = incident.opened_at - window
        same = [
            i
            for i in await self._store.incidents_of(incident.key, since, PER_ALARM)
            if i.opened_at < incident.opened_at
        ]
        often = cadence([incident.opened_at, *(i.opened_at for i in same)])
        linked = 1 if often else LISTED
        resource, words = resource_of(alarm)
        others = await self._others(incident, resource, since)
        return Recall(
            name=alarm.name,
            opened_at=incident.opened_at,
            window=window,
            same=await self._linked(same, linked),
            resource=words,
            others=[
                OtherAlarm(name, await self._linked(found, 1))
                for name, found in others[:OTHER_ALARMS]
            ]
            + [OtherAlarm(name, [Past(i) for i in found]) for name, found in others[OTHER_ALARMS:]],
        )

    def _wanted(self, alarm: Alarm) -> bool:
        decision = route(alarm, self._settings.routes, self._settings.slack.default_channel)
        if decision.route_index is None:
            return True
        return self._settings.routes[decision.route_index].history

    async def _others(
        self, incident: Incident, resource: str, since: datetime
    ) -> list[tuple[str, list[Incident]]]:
        """The other alarms on ``resource`` with incidents in the window, latest first."""
        if not resource:
            return []
        raw = await self._store.schedule_get(RESOURCE_INDEX + resource)
        found = []
        for key in [str(k) for k in json.loads(raw)] if raw else []:
            if key == incident.key:
                continue
            incidents = [
                i
                for i in await self._store.incidents_of(key, since, PER_ALARM)
                if i.opened_at <= incident.opened_at
            ]
            if incidents:
                found.append((incidents[0].alarm_name, incidents))
        found.sort(key=lambda pair: pair[1][0].opened_at, reverse=True)
        return found

    async def _linked(self, incidents: Sequence[Incident], count: int) -> list[Past]:
        """The incidents, the first ``count`` with links to their threads."""
        links = await asyncio.gather(*(self._link(i) for i in incidents[:count]))
        return [Past(i, link) for i, link in zip(incidents[:count], links, strict=True)] + [
            Past(i) for i in incidents[count:]
        ]

    async def _link(self, incident: Incident) -> str:
        thread = thread_of(incident)
        return await self._sender.permalink(incident.channel, thread) if thread else ""
