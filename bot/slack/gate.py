"""What a request to ``POST /slack/events`` must pass before Bolt sees it.

- A signature (Slack's v0 HMAC over ``v0:<timestamp>:<body>``) that is valid and whose timestamp
  is a number within five minutes of now; anything else — a missing header, a timestamp such as
  ``abc``, a bad signature — is 401 Unauthorized, never a 500.
- The same signed request seen again within that window (a replay: same timestamp, signature and
  so body) is answered 200 with an empty body and not handed on, so it cannot run twice.
- A signed body whose shape is not one Slack sends (an interactivity ``payload`` that is not a
  JSON object, a JSON body that does not parse) is 400 Bad Request, with one log line.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

log = logging.getLogger(__name__)

WINDOW_SECONDS = 300  # Slack's own replay window for request timestamps
MAX_REMEMBERED = 50_000  # signatures kept for replay detection (bounded memory)


@dataclass(frozen=True)
class Verdict:
    """``status`` None: hand the request on. Otherwise answer it with this status and body."""

    status: int | None
    body: str = ""


PASS = Verdict(None)


class SlackRequestGate:
    """Checks a request's signature, replay and shape.

    Replays are remembered in this process's memory (bounded, for the five-minute window): with
    several HTTP replicas behind one load balancer a replay could still reach another replica
    once. Socket Mode, the default deployment, receives no HTTP requests to replay."""

    def __init__(self, signing_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check(self, body: bytes, timestamp: str | None, signature: str | None) -> Verdict:
        if not self._signed(body, timestamp, signature):
            return Verdict(401, "invalid request signature")
        assert signature is not None
        if self._replayed(signature):
            log.warning("a signed Slack request was replayed; answered, not run again")
            return Verdict(200)
        problem = _shape_problem(body)
        if problem:
            log.warning("a signed Slack request was malformed: %s", problem)
            return Verdict(400, problem)
        return PASS

    def _signed(self, body: bytes, timestamp: str | None, signature: str | None) -> bool:
        if not timestamp or not signature or not timestamp.isascii() or not timestamp.isdigit():
            return False
        try:
            return self._verifier.is_valid(body, timestamp, signature)
        except (ValueError, TypeError):
            return False

    def _replayed(self, signature: str) -> bool:
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        if signature in self._seen:
            return True
        self._seen[signature] = now + WINDOW_SECONDS
        if len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
        return False


def _shape_problem(body: bytes) -> str:
    """What is wrong with a signed body's shape, or "" when Bolt can read it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return "the JSON body does not parse"
        return "" if isinstance(parsed, dict) else "the JSON body is not an object"
    form = parse_qs(text, keep_blank_values=True)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except ValueError:
            return "the interactivity payload is not JSON"
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return "the interactivity payload is not an object with a type"
    return ""


class _Clock(Clock):
    """slack_sdk's verifier reads the time from a ``Clock``; this one is injected."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock()
