"""How long the bot waits for things: one frozen value, built by the composition root.

Every part that waits (a lease, a retry, a pacing interval, a drain) takes its timing from
here through its constructor; none reads a module constant. The defaults are what production
runs with. An operator tunes only ``lease`` (``[store] lease`` in the config); tests pass
small values of the rest to ``build_app(timings=...)`` or to the part itself, so that they
wait on signals instead of waiting timings out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_LEASE = timedelta(seconds=60)
"""``[store] lease`` when the config does not say."""

DEFAULT_RETENTION = timedelta(days=30)
"""``[store] retention`` when the config does not say (``bot/store/retention.py``)."""


@dataclass(frozen=True)
class Timings:
    """Every timing of a running bot; today's production values are the defaults."""

    # How long the work of a replica that died stays claimed before another takes it over:
    # the lease on posting an incident's root message (it must outlive a slow post). The
    # storm-message lease is half of it. ``[store] lease``.
    lease: timedelta = DEFAULT_LEASE
    # An alarm message claimed from the inbox: how long before another worker may take it.
    # It must outlast handling one message, playbook run included.
    inbox_lease: timedelta = timedelta(minutes=5)
    # How often the inbox looks for claims that ran out (failed attempts, dead replicas).
    inbox_sweep: timedelta = timedelta(seconds=60)
    # Slack refused an incident's root message (say, not in the channel yet): the alarm is
    # handled again this soon. A root Slack did not answer waits in the outbox instead.
    slack_retry: timedelta = timedelta(seconds=30)
    # An incident record kept changing under us (other replicas): handled again this soon.
    store_retry: timedelta = timedelta(seconds=5)
    # The Slack Web API client: how long one request may take, and the base of the
    # exponential backoff between its retries of a 5xx or a dropped connection.
    slack_timeout: timedelta = timedelta(seconds=10)
    slack_backoff: timedelta = timedelta(seconds=0.5)
    # A run's live message is edited at most this often (changes in between are coalesced).
    live_edit_interval: timedelta = timedelta(seconds=1)
    # A run's final message (or, failing that, the ephemeral telling its caller) is tried
    # again, backing off from ``slack_backoff``, until Slack takes it or this has passed.
    run_final_retry: timedelta = timedelta(minutes=10)
    # The outbox (bot.outbound.outbox): a post Slack did not take is tried again from the
    # store, every replica looking for what is due this often, waiting from ``outbox_backoff``
    # (doubling, with jitter) up to ``outbox_max_backoff`` between tries, for as long as it is
    # still worth posting (``outbox_relevance``); one posted ``late_after`` or more after its
    # first try says how late it is.
    outbox_poll: timedelta = timedelta(seconds=2)
    outbox_backoff: timedelta = timedelta(seconds=2)
    outbox_max_backoff: timedelta = timedelta(minutes=2)
    outbox_relevance: timedelta = timedelta(hours=24)
    late_after: timedelta = timedelta(minutes=2)
    # Slack's pace (bot.outbound): posts per second per channel, and the workspace's budget of
    # message edits per minute (chat.update is Tier 3, shared by every message the app edits).
    slack_posts_per_second: float = 1.0
    slack_edits_per_minute: float = 50.0
    # AWS calls: botocore standard retries, this many attempts in all (throttling, 5xx) ...
    aws_max_attempts: int = 5
    # ... each attempt connecting within this, and reading within this (a long poll's wait is
    # added to it). Under a deadline (a step's timeout, the playbook's) every attempt reads
    # for at most the time left, and none starts once it has passed.
    aws_connect_timeout: timedelta = timedelta(seconds=3)
    aws_read_timeout: timedelta = timedelta(seconds=20)
    # AWS calls in flight at once; a call abandoned at its deadline makes room at once.
    aws_max_workers: int = 32
    # GET /healthz: a store check (a real write) is reused for this long; Slack's auth.test
    # is asked this often.
    health_cache: timedelta = timedelta(seconds=1)
    slack_auth_interval: timedelta = timedelta(minutes=1)
    # The operator view (/healthz, /metrics): the queue's depth, its oldest message's age and
    # the inbox backlog are read this often (two AWS calls and one store query each time).
    backlog_interval: timedelta = timedelta(seconds=60)
    # On SIGTERM: how long runs and alarms in flight may take to finish before the exit.
    drain: timedelta = timedelta(seconds=25)
    # The daily digest: after a failed attempt, the next may start this much later ...
    digest_retry_after: timedelta = timedelta(minutes=10)
    # ... and an attempt not finished by then (its process died) is taken over.
    digest_post_deadline: timedelta = timedelta(minutes=15)
    # The SQLite store deletes what is older than ``[store] retention`` this often.
    prune_interval: timedelta = timedelta(hours=1)
    # Paging (``bot.incidents.paging``): incidents waiting to be paged, or paged, are looked at
    # this often (a page is at most this late; an acknowledge or resolve follows within it).
    paging_poll: timedelta = timedelta(seconds=5)
    # The PagerDuty Events API: one request's bound, the base of the backoff between tries
    # (a 5xx, a timeout, a 429 without Retry-After) and the tries in all.
    paging_timeout: timedelta = timedelta(seconds=10)
    paging_backoff: timedelta = timedelta(seconds=1)
    paging_attempts: int = 5

    @property
    def root_lease(self) -> timedelta:
        """One replica posts an incident's root message at a time."""
        return self.lease

    @property
    def storm_lease(self) -> timedelta:
        """One replica starts a route's storm message at a time."""
        return self.lease / 2

    def with_lease(self, lease: timedelta) -> Timings:
        return dataclasses.replace(self, lease=lease)


DEFAULTS = Timings()
"""Production timings, for parts built outside the composition root (one-shot commands)."""
