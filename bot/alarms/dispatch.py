"""From a recorded inbox message to the incident thread: parse it, then hand it on.

An inbox body is what arrived: an SNS envelope (``POST /sns``, or SQS without raw message
delivery), an EventBridge event, or the bare message text of SQS raw message delivery. Whatever
it is, it is read the way an SQS body is (``unwrap_envelope``), parsed into an ``Alarm``, and
handed to the incidents: alarms and Health events to ``handle``, anything else to
``post_notification``. Subscription confirmations and configuration changes are ignored.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from bot.alarms.envelope import MalformedMessage
from bot.alarms.model import Alarm, AlarmSource
from bot.alarms.parse import parse_notification, unwrap_envelope

log = logging.getLogger(__name__)


class AlarmHandler(Protocol):
    """What ``bot.incidents.Incidents`` offers the dispatcher."""

    async def handle(self, alarm: Alarm) -> None: ...

    async def post_notification(self, alarm: Alarm) -> None: ...


def read_inbox_body(body: str, message_id: str, now: datetime | None = None) -> Alarm | None:
    """The Alarm in an inbox body, or None when there is nothing to do with it. ``now`` bounds
    its state-change time (``parse_notification``)."""
    try:
        envelope = unwrap_envelope({"Body": body, "MessageId": message_id, "ReceiptHandle": ""})
    except MalformedMessage as exc:  # pragma: no cover - an SQS-style body always unwraps
        log.warning("ignoring alarm message %s: %s", message_id, exc.user_message)
        return None
    alarm = parse_notification(envelope, now=now)
    if alarm is not None and not alarm.message_id:
        alarm = dataclasses.replace(alarm, message_id=message_id)
    return alarm


class AlarmDispatch:
    """The inbox's ``process``: one recorded message → ``Incidents``."""

    def __init__(
        self, incidents: AlarmHandler, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._incidents = incidents
        self._clock = clock

    async def __call__(self, body: str, message_id: str) -> None:
        alarm = read_inbox_body(body, message_id, self._clock())
        if alarm is None:
            log.info(
                "alarm message %s needs no action", message_id, extra={"message_id": message_id}
            )
            return
        if alarm.source is AlarmSource.NOTIFICATION:
            await self._incidents.post_notification(alarm)
        else:
            await self._incidents.handle(alarm)
