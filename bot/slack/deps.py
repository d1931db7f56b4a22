"""What the Slack listeners need, built once by ``bot.app`` and passed in explicitly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.access import AccessPolicy
from bot.alarms.model import Alarm
from bot.config import Settings
from bot.metrics import Metrics
from bot.outbound.sender import SlackSender
from bot.playbooks.catalog import Catalog
from bot.runs import SlackRuns
from bot.store.base import Store
from bot.tasks import TaskTracker

# Looks an alarm up by name in AWS, with its current state (None when there is none).
AlarmLookup = Callable[[str], Awaitable[Alarm | None]]
# Posts the cost digest to a channel now.
DigestPoster = Callable[[str], Coroutine[Any, Any, None]]
# Posts the shift hand-over of the last ``since`` to a channel now.
HandoverPoster = Callable[[str, timedelta], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class SlackDeps:
    settings: Settings
    catalog: Catalog
    access: AccessPolicy
    runs: SlackRuns
    tasks: TaskTracker
    store: Store
    sender: SlackSender  # every Slack call the listeners make after the ack
    metrics: Metrics
    lookup_alarm: AlarmLookup
    post_digest: DigestPoster | None
    post_handover: HandoverPoster
    clock: Callable[[], datetime]
