"""The bot's scheduled posts, built for ``bot.app``: the daily digest (``[digest]``) and the
shift hand-over (``[handover]``, and ``/triage handover`` on demand), each on its own cron,
sharing the once-per-slot claims of ``bot.digest.slots`` and this process's heartbeat and held
leases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.aws import AwsClients
from bot.digest.service import DigestService, process_owner
from bot.digest.slots import Claims
from bot.incidents.handover_post import HandoverService, post_handover
from bot.leases import HeldLeases
from bot.loading import Loaded
from bot.outbound.outbox import Outbox
from bot.outbound.sender import SlackSender
from bot.replicas import Heartbeat
from bot.slack.deps import HandoverPoster
from bot.store.base import Store
from bot.timings import Timings


@dataclass(frozen=True)
class Scheduled:
    digest: DigestService | None  # when [digest] is set
    handover: HandoverService | None  # when [handover] is set
    handover_now: HandoverPoster  # /triage handover, with or without [handover]


def build_scheduled(
    loaded: Loaded,
    aws: AwsClients,
    store: Store,
    sender: SlackSender,
    outbox: Outbox,
    *,
    clock: Callable[[], datetime],
    timings: Timings,
    heartbeat: Heartbeat,
    held: HeldLeases,
) -> Scheduled:
    settings = loaded.settings
    claims = Claims(
        process_owner(),
        clock,
        retry_after=timings.digest_retry_after,
        post_deadline=timings.digest_post_deadline,
        holder_gone=heartbeat.is_gone,
        held=held,
    )
    digest = None
    if settings.digest is not None and loaded.digest is not None:
        digest = DigestService(
            settings.digest, aws, store, sender, outbox, trigger=loaded.digest, claims=claims
        )
    handover = None
    if settings.handover is not None and loaded.handover is not None:
        handover = HandoverService(
            settings, store, sender, outbox, trigger=loaded.handover, claims=claims
        )

    async def handover_now(channel: str, since: timedelta) -> None:
        end = clock()
        await post_handover(settings, store, sender, outbox, channel, end - since, end)

    return Scheduled(digest, handover, handover_now)
