"""AWS access: one client per (account, region, service), built once; calls off the event loop.

Every boto3 call in the bot goes through ``AwsClients.call`` / ``paginate``: they run on a
thread pool sized for the run's concurrency (``bot.aws_pool``), use botocore's standard retry
mode, and rate-limit the APIs whose hard limits a playbook would otherwise hit (CloudTrail
LookupEvents: 2/s). Calls are bounded: connect and read timeouts from ``Timings``, and inside
``AwsClients.deadline(...)`` (a step's timeout) no call outlives the deadline
(``bot.aws_deadline``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.parsers import ResponseParserError
from botocore.session import get_session

from bot.account_regions import outside_regions
from bot.aws_assume import assumed_session
from bot.aws_deadline import BudgetHooks, CallAbandoned, CallBudget, NotApiReply
from bot.aws_errors import describe_client_error, iam_action
from bot.aws_pool import CallPool
from bot.config import AwsAccount, AwsSettings
from bot.errors import NO_CREDENTIALS, StepError
from bot.timings import DEFAULTS, Timings

T = TypeVar("T")

# Requests per second that AWS documents as a hard per-account, per-region limit.
RATE_LIMITS: Mapping[tuple[str, str], float] = {("cloudtrail", "lookup_events"): 2.0}
# The share of such a limit the bot spaces its calls to. Calls leave on their slots but reach
# AWS with a little jitter (a busy event loop, the network); at exactly the limit, one late call
# puts three in one of AWS's seconds. At 80% a call must be 250 ms late for that.
RATE_HEADROOM = 0.8


@dataclass(frozen=True)
class Target:
    """Where a call goes: a configured account by name (None = the bot's own credentials)."""

    region: str
    account: str | None = None


class RateLimiter:
    """An async token bucket: at most ``rate`` acquisitions per second, bursts of one."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock()
            wait = self._next - now
            self._next = max(now, self._next) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)


@dataclass
class CallStats:
    """Requests made for one step: attempts include botocore's retries."""

    attempts: int = 0
    retries: int = 0

    def record(self, response: Mapping[str, Any]) -> None:
        retries = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        self.attempts += 1 + retries
        self.retries += retries


SessionFactory = Callable[[], boto3.Session]
"""Makes a new boto3 Session per call (assumed-role sessions get their own credentials)."""


class AwsClients:
    """Builds and caches clients; runs their calls on a dedicated thread pool.

    ``timings`` bounds every call (attempts, connect and read timeouts, threads);
    ``max_workers`` and ``max_attempts`` override its values when given."""

    def __init__(
        self,
        settings: AwsSettings,
        *,
        endpoint_url: str | None = None,
        session_factory: SessionFactory | None = None,
        timings: Timings = DEFAULTS,
        max_workers: int | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self._settings = settings
        self._endpoint_url = endpoint_url or None
        self._session_factory = session_factory or (
            lambda: boto3.Session(botocore_session=get_session())
        )
        workers = max_workers or timings.aws_max_workers
        self._pool = CallPool(workers, name="aws")
        self._read_timeout = timings.aws_read_timeout.total_seconds()
        retries = {  # throttling, 5xx, dropped connections
            "mode": "standard",
            "total_max_attempts": max_attempts or timings.aws_max_attempts,
        }
        self._config = Config(
            retries=retries,  # type: ignore[arg-type]
            connect_timeout=timings.aws_connect_timeout.total_seconds(),
            read_timeout=self._read_timeout,
            # Abandoned calls' threads finish alongside new ones: room for both.
            max_pool_connections=2 * workers,
        )
        self._hooks = BudgetHooks()
        self._deadline: ContextVar[float | None] = ContextVar("aws_deadline", default=None)
        self._in_flight: set[CallBudget] = set()
        self._lock = threading.Lock()  # _in_flight: held only briefly, by the event loop too
        self._build_lock = threading.Lock()  # sessions and clients, built on the pool's threads
        self._sessions: dict[str | None, boto3.Session] = {}
        self._clients: dict[tuple[str | None, str, str], Any] = {}
        self._limiters: dict[tuple[str, str, str | None, str], RateLimiter] = {}
        # Set when replicas share the limits above (``bot.rate_limits.FleetRateLimits.acquire``:
        # the budget's name, its rate): then it spaces the calls instead of this process.
        self.shared_limit: Callable[[str, float], Awaitable[None]] | None = None

    @property
    def default_region(self) -> str:
        return self._settings.region

    def account_named_for(self, account_id: str) -> str | None:
        """The ``[[aws.accounts]]`` entry whose role lives in ``account_id`` (an alarm's
        account), or None: then the bot's own credentials are used."""
        for account in self._settings.accounts:
            if account_id and account.role_arn.split(":")[4] == account_id:
                return account.name
        return None

    def target(self, region: str | None = None, account: str | None = None) -> Target:
        return Target(region=region or self._settings.region, account=account)

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Calls made in this block (and in tasks it starts) end within ``seconds``: every
        attempt, retry and backoff of theirs fits in it. Blocks nest; the sooner one wins."""
        when = time.monotonic() + seconds
        outer = self._deadline.get()
        token = self._deadline.set(when if outer is None else min(outer, when))
        try:
            yield
        finally:
            self._deadline.reset(token)

    def client(self, service: str, target: Target) -> Any:
        """The cached client for ``service`` at ``target``; built on first use (thread-safe)."""
        if target.account is not None:
            outside = outside_regions(self._account(target.account), target.region)
            if outside is not None:
                raise StepError(f"Not calling AWS: {outside}.")
        key = (target.account, target.region, service)
        with self._build_lock:
            client = self._clients.get(key)
            if client is None:
                session = self._session(target.account)
                client = session.client(
                    service,  # type: ignore[call-overload]
                    region_name=target.region,
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                )
                self._hooks.install(client.meta.events)
                self._clients[key] = client
            return client

    async def call(
        self,
        service: str,
        method: str,
        target: Target,
        stats: CallStats | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Call ``client.<method>(**kwargs)`` off the event loop and return the parsed response.

        Inside ``deadline(...)`` the call ends by the deadline; cancelled (a step timed out),
        it is abandoned: no further attempt, and its thread no longer counts."""
        await self._throttle(service, method, target)
        # A long poll (SQS WaitTimeSeconds) may legitimately wait that long for its reply.
        wait = kwargs.get("WaitTimeSeconds")
        read_timeout = self._read_timeout + (wait if isinstance(wait, int | float) else 0)
        budget = CallBudget(read_timeout=read_timeout, deadline=self._deadline.get())
        response = await self._in_pool(
            budget, self._call_sync, service, method, target, kwargs, budget
        )
        if stats is not None:
            stats.record(response)
        return response

    async def paginate(
        self,
        service: str,
        method: str,
        target: Target,
        stats: CallStats | None = None,
        *,
        max_pages: int = 10,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Up to ``max_pages`` pages of a paginated operation, each page one rate-limited call."""
        budget = CallBudget(read_timeout=self._read_timeout)
        client = await self._in_pool(budget, self._client_sync, service, method, target, budget)
        if not client.can_paginate(method):
            return [await self.call(service, method, target, stats, **kwargs)]
        paginator = client.get_paginator(method)
        input_token = paginator._pagination_cfg["input_token"]
        output_token = paginator._pagination_cfg["output_token"]
        tokens_in = input_token if isinstance(input_token, list) else [input_token]
        tokens_out = output_token if isinstance(output_token, list) else [output_token]
        pages: list[dict[str, Any]] = []
        args = dict(kwargs)
        for _ in range(max_pages):
            page = await self.call(service, method, target, stats, **args)
            pages.append(page)
            next_tokens = [_lookup(page, path) for path in tokens_out]
            if not any(next_tokens):
                break
            for name, value in zip(tokens_in, next_tokens, strict=False):
                if value:
                    args[name] = value
        return pages

    def close(self) -> None:
        """No new calls; calls in flight make no further attempt (their threads end with the
        attempt under way, and never hold up the process's exit)."""
        with self._lock:
            for budget in self._in_flight:
                budget.abandoned = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _in_pool(self, budget: CallBudget, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the pool; abandoned (no more attempts) when the caller gives up."""
        with self._lock:
            self._in_flight.add(budget)
        future = self._pool.submit(fn, *args)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            budget.abandoned = True
            self._pool.abandon(future)
            raise
        finally:
            with self._lock:
                self._in_flight.discard(budget)

    def _call_sync(
        self,
        service: str,
        method: str,
        target: Target,
        kwargs: Mapping[str, Any],
        budget: CallBudget,
    ) -> dict[str, Any]:
        with self._hooks.applied(budget), _as_step_error(service, method, budget):
            client = self.client(service, target)  # may assume a role: its failures are ours
            result: dict[str, Any] = getattr(client, method)(**kwargs)
        return result

    def _client_sync(self, service: str, method: str, target: Target, budget: CallBudget) -> Any:
        """``client(...)`` on the pool, its failures (assuming a role) said as for ``method``."""
        with self._hooks.applied(budget), _as_step_error(service, method, budget):
            return self.client(service, target)

    async def _throttle(self, service: str, method: str, target: Target) -> None:
        limit = RATE_LIMITS.get((service, method))
        if limit is None:
            return
        rate = limit * RATE_HEADROOM
        if self.shared_limit is not None:
            await self.shared_limit(
                f"{service}.{method}:{target.account or ''}:{target.region}", rate
            )
            return
        key = (service, method, target.account, target.region)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters.setdefault(key, RateLimiter(rate))
        await limiter.acquire()

    def _session(self, account: str | None) -> boto3.Session:
        session = self._sessions.get(account)
        if session is None:
            base = self._sessions.get(None) or self._session_factory()
            self._sessions[None] = base
            session = (
                base
                if account is None
                else assumed_session(
                    base,
                    self._account(account),
                    new_session=self._session_factory,
                    hooks=self._hooks,
                    region_name=self._settings.region,
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                )
            )
            self._sessions[account] = session
        return session

    def _account(self, name: str) -> AwsAccount:
        for account in self._settings.accounts:
            if account.name == name:
                return account
        known = ", ".join(a.name for a in self._settings.accounts) or "none configured"
        raise StepError(f"There is no AWS account `{name}` in [[aws.accounts]] ({known}).")


@contextmanager
def _as_step_error(service: str, method: str, budget: CallBudget) -> Iterator[None]:
    """botocore's failures of one call, as the sentence a person reads (a ``StepError``)."""
    action = iam_action(service, method)
    try:
        yield
    except ClientError as exc:
        if budget.web_page:  # a 5xx page, still a page after botocore's retries
            raise StepError(f"`{action}` failed: {budget.not_api_format()}") from exc
        error = exc.response.get("Error", {})
        raise StepError(
            describe_client_error(exc, service, method),
            aws_code=str(error.get("Code", "")),
            aws_message=str(error.get("Message", "")).strip(),
        ) from exc
    except NotApiReply as exc:
        raise StepError(f"`{action}` failed: {exc}") from exc
    except CallAbandoned as exc:
        raise StepError(f"`{action}` got no answer from AWS in time ({exc}).") from exc
    except NoCredentialsError as exc:
        raise StepError(NO_CREDENTIALS, aws_code="NoCredentials") from exc
    except BotoCoreError as exc:
        raise StepError(f"`{action}` failed: {exc}") from exc
    except (ResponseParserError, KeyError, ValueError, TypeError) as exc:
        if not budget.status:  # no reply was read: not a reply's fault
            raise
        raise StepError(f"`{action}` failed: {budget.not_api_format()}") from exc


def _lookup(page: Mapping[str, Any], path: str) -> Any:
    value: Any = page
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
