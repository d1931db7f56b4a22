"""How long one AWS call may take, enforced inside botocore, and what it answered.

A call runs under a ``CallBudget``: a read timeout for each attempt and, when a step made the
call, the step's deadline. botocore's own retries (standard mode) see it through event hooks,
installed once per client:

- ``before-send``: an attempt reads for at most the time left (botocore's per-request
  ``read_timeout``), and no attempt starts once the deadline passed or the call was abandoned;
- ``needs-retry``: a failed attempt past the deadline ends the call instead of backing off;
- ``before-parse``: a web page where the API's own format belongs (a proxy's or a load
  balancer's error page) ends the call with a sentence, not a parser's traceback or an empty
  result (5xx pages are left to botocore's retries first).

So a thread given up on finishes right after its deadline, not after botocore's defaults
(60 s reads, several attempts). The budget of the call running on a thread is thread-local:
botocore calls the hooks on the thread that makes the call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


class CallAbandoned(Exception):
    """Stops a call inside botocore: its deadline passed, or nobody waits for it any more."""


class NotApiReply(Exception):
    """The endpoint answered with a web page instead of the API's format."""


@dataclass(eq=False)  # one per call, compared by identity
class CallBudget:
    """One call's limits (set by the event loop's side) and its last reply (set by botocore's
    thread). ``deadline`` is on the ``clock`` (``time.monotonic``); None: no deadline."""

    read_timeout: float
    deadline: float | None = None
    clock: Callable[[], float] = time.monotonic
    abandoned: bool = False
    host: str = ""
    status: int = 0
    web_page: bool = False

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def over(self) -> bool:
        """True once the call should make no further attempt."""
        left = self.time_left()
        return self.abandoned or (left is not None and left <= 0)

    def attempt_timeout(self) -> float:
        """How long the next attempt may wait for its reply."""
        left = self.time_left()
        return self.read_timeout if left is None else max(0.001, min(self.read_timeout, left))

    def not_api_format(self) -> str:
        """The one line a person reads when AWS's reply could not be read."""
        status = f"HTTP {self.status}" if self.status else "a reply"
        page = " (a web page)" if self.web_page else ""
        where = f" from {self.host}" if self.host else ""
        return f"AWS answered with something that is not its API format: {status}{where}{page}."


class BudgetHooks:
    """The botocore handlers that apply the budget of the call running on this thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def applied(self, budget: CallBudget) -> Iterator[CallBudget]:
        """Calls made on this thread inside the block run under ``budget``."""
        self._local.budget = budget
        try:
            yield budget
        finally:
            self._local.budget = None

    def install(self, events: Any) -> None:
        """Register on a client's ``meta.events`` (a botocore HierarchicalEmitter)."""
        events.register("before-send", self._before_send)
        events.register_first("needs-retry", self._needs_retry)
        events.register("before-parse", self._before_parse)

    def _current(self) -> CallBudget | None:
        budget: CallBudget | None = getattr(self._local, "budget", None)
        return budget

    def _before_send(self, request: Any, **_: Any) -> None:
        budget = self._current()
        if budget is None:
            return
        budget.host = urlsplit(request.url).netloc
        budget.status, budget.web_page = 0, False
        if budget.over():
            raise CallAbandoned("the call's deadline passed before this attempt")
        context = getattr(request, "context", None)
        if isinstance(context, dict):
            context["read_timeout"] = budget.attempt_timeout()

    def _needs_retry(self, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        budget = self._current()
        if budget is None:
            return
        failed = caught_exception is not None or (
            response is not None and getattr(response[0], "status_code", 200) >= 400
        )
        if failed and budget.over():
            if isinstance(caught_exception, Exception):
                raise CallAbandoned("the call's deadline passed") from caught_exception
            raise CallAbandoned("the call's deadline passed")

    def _before_parse(self, response_dict: Mapping[str, Any], **_: Any) -> None:
        budget = self._current()
        if budget is None:
            return
        budget.status = int(response_dict.get("status_code") or 0)
        budget.web_page = looks_like_web_page(response_dict.get("body"))
        if budget.web_page and budget.status < 500:
            raise NotApiReply(budget.not_api_format())


def looks_like_web_page(body: object) -> bool:
    """Whether a reply body is HTML (what proxies and consoles answer), not an AWS format."""
    if not isinstance(body, bytes):
        return False
    return body[:200].lstrip().lower().startswith(_HTML_STARTS)
