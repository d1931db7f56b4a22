"""AWS access: one client per (account, region, service), built once; calls off the event loop.

Every boto3 call in the bot goes through ``AwsClients.call`` / ``paginate``: they run on a
thread pool sized for the run's concurrency, use botocore's standard retry mode, and rate-limit
the APIs whose hard limits a playbook would otherwise hit (CloudTrail LookupEvents: 2/s).
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError
from botocore.session import get_session

from bot.account_regions import outside_regions
from bot.config import AwsAccount, AwsSettings
from bot.errors import StepError
from bot.timings import DEFAULTS

# Requests per second that AWS documents as a hard per-account, per-region limit.
RATE_LIMITS: Mapping[tuple[str, str], float] = {("cloudtrail", "lookup_events"): 2.0}

# Services whose IAM action prefix is not their boto3 name.
_IAM_PREFIX = {
    "elbv2": "elasticloadbalancing",
    "elb": "elasticloadbalancing",
    "service-quotas": "servicequotas",
    "stepfunctions": "states",
}

_ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
}
_PRINCIPAL = re.compile(r"User: (arn:aws[\w-]*:[^ ]+)")

# Operations authorised by an IAM action of another name.
_IAM_ACTION = {("budgets", "describe_budgets"): "budgets:ViewBudget"}


def iam_action(service: str, method: str, operation: str | None = None) -> str:
    """``("elbv2", "describe_target_health")`` → ``elasticloadbalancing:DescribeTargetHealth``.

    ``operation`` is the API's own spelling (``DescribeDBInstances``) when the caller knows it.
    """
    special = _IAM_ACTION.get((service, method))
    if special:
        return special
    prefix = _IAM_PREFIX.get(service, service)
    name = operation or "".join(part.capitalize() for part in method.split("_"))
    return f"{prefix}:{name}"


def describe_client_error(
    exc: ClientError, service: str, method: str, operation: str | None = None
) -> str:
    """A sentence an engineer can act on, naming the IAM action and principal when denied."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")).strip()
    action = iam_action(service, method, operation or exc.operation_name)
    if code in _ACCESS_DENIED or "not authorized" in message:
        found = _PRINCIPAL.search(message)
        who = found.group(1) if found else "the bot's role"
        return (
            f"Access denied: {who} may not call `{action}`. "
            f"Add `{action}` to its IAM policy (`triagebot iam-policy` prints the whole policy)."
        )
    if "<html" in message.lower() or len(message) > 500:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", code)
        message = f"the endpoint answered HTTP {status} with a page instead of an AWS error"
    return f"`{action}` failed: {code}: {message}" if message else f"`{action}` failed: {code}"


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
    """Builds and caches clients; runs their calls on a dedicated thread pool."""

    def __init__(
        self,
        settings: AwsSettings,
        *,
        endpoint_url: str | None = None,
        session_factory: SessionFactory | None = None,
        max_workers: int = 32,
        max_attempts: int = DEFAULTS.aws_max_attempts,
    ) -> None:
        self._settings = settings
        self._endpoint_url = endpoint_url or None
        self._session_factory = session_factory or (
            lambda: boto3.Session(botocore_session=get_session())
        )
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aws")
        retries = {"mode": "standard", "total_max_attempts": max_attempts}  # throttling, 5xx
        self._config = Config(retries=retries, max_pool_connections=max_workers)  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._sessions: dict[str | None, boto3.Session] = {}
        self._clients: dict[tuple[str | None, str, str], Any] = {}
        self._limiters: dict[tuple[str, str, str | None, str], RateLimiter] = {}

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

    def client(self, service: str, target: Target) -> Any:
        """The cached client for ``service`` at ``target``; built on first use (thread-safe)."""
        if target.account is not None:
            outside = outside_regions(self._account(target.account), target.region)
            if outside is not None:
                raise StepError(f"Not calling AWS: {outside}.")
        key = (target.account, target.region, service)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                session = self._session(target.account)
                client = session.client(
                    service,  # type: ignore[call-overload]
                    region_name=target.region,
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                )
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
        """Call ``client.<method>(**kwargs)`` off the event loop and return the parsed response."""
        await self._throttle(service, method, target)
        loop = asyncio.get_running_loop()
        bound = functools.partial(self._call_sync, service, method, target, kwargs)
        response: dict[str, Any] = await loop.run_in_executor(self._pool, bound)
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
        client = await asyncio.get_running_loop().run_in_executor(
            self._pool, self.client, service, target
        )
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
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _call_sync(
        self, service: str, method: str, target: Target, kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client = self.client(service, target)
        try:
            result: dict[str, Any] = getattr(client, method)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StepError(
                describe_client_error(exc, service, method),
                aws_code=str(error.get("Code", "")),
                aws_message=str(error.get("Message", "")).strip(),
            ) from exc
        except BotoCoreError as exc:
            raise StepError(f"`{iam_action(service, method)}` failed: {exc}") from exc
        return result

    async def _throttle(self, service: str, method: str, target: Target) -> None:
        rate = RATE_LIMITS.get((service, method))
        if rate is None:
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
            session = base if account is None else self._assumed(base, self._account(account))
            self._sessions[account] = session
        return session

    def _account(self, name: str) -> AwsAccount:
        for account in self._settings.accounts:
            if account.name == name:
                return account
        known = ", ".join(a.name for a in self._settings.accounts) or "none configured"
        raise StepError(f"There is no AWS account `{name}` in [[aws.accounts]] ({known}).")

    def _assumed(self, base: boto3.Session, account: AwsAccount) -> boto3.Session:
        """A session whose credentials come from STS AssumeRole, refreshed before they expire."""
        sts = base.client(
            "sts",
            region_name=self._settings.region,
            endpoint_url=self._endpoint_url,
            config=self._config,
        )

        def fetch() -> dict[str, str]:
            args: dict[str, Any] = {
                "RoleArn": account.role_arn,
                "RoleSessionName": "triagebot",
                "DurationSeconds": 3600,
            }
            if account.external_id:
                args["ExternalId"] = account.external_id
            creds = sts.assume_role(**args)["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        refreshable = RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
        )
        session = self._session_factory()
        session._session._credentials = refreshable  # type: ignore[attr-defined]
        return session


def _lookup(page: Mapping[str, Any], path: str) -> Any:
    value: Any = page
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
