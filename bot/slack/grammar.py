"""The ``/triage`` grammar (DESIGN.md "Slack behaviour"), parsed into one command value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.durations import parse_duration
from bot.errors import ParamError, echo
from bot.playbooks.params import parse_kv

MAX_HISTORY = 50
HANDOVER_DEFAULT = timedelta(hours=12)  # what ``/triage handover`` covers without since=
HANDOVER_LONGEST = timedelta(days=7)


@dataclass(frozen=True)
class OpenModal:
    """``/triage`` alone: pick a playbook in a modal."""


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ListPlaybooks:
    pass


@dataclass(frozen=True)
class History:
    limit: int = 10


@dataclass(frozen=True)
class Cost:
    pass


@dataclass(frozen=True)
class Handover:
    """``/triage handover [since=12h]``: the shift hand-over of the last ``since``, now."""

    since: timedelta = HANDOVER_DEFAULT


@dataclass(frozen=True)
class AlarmRun:
    alarm_name: str


@dataclass(frozen=True)
class Timeline:
    """``/triage timeline <alarm-name>``: the latest incident of that alarm, as a file."""

    alarm_name: str


@dataclass(frozen=True)
class PlaybookRun:
    playbook: str
    params: dict[str, str] = field(default_factory=dict)


Command = (
    OpenModal | Help | ListPlaybooks | History | Cost | Handover | AlarmRun | Timeline | PlaybookRun
)


def parse_command(text: str) -> Command:
    """Parse the text after ``/triage``; ParamError says what is wrong and what would work."""
    words, pairs = parse_kv(text.strip())
    if not words and not pairs:
        return OpenModal()
    if not words:
        raise ParamError("Name a playbook first, like `/triage alb-errors load_balancer=my-lb`.")
    verb, rest = words[0], words[1:]
    if verb in ("help", "list", "cost") and (rest or pairs):
        raise ParamError(f"`/triage {verb}` takes nothing after it.")
    if verb == "help":
        return Help()
    if verb == "list":
        return ListPlaybooks()
    if verb == "cost":
        return Cost()
    if verb == "history":
        return _history(rest, pairs)
    if verb == "handover":
        return _handover(rest, pairs)
    if verb == "alarm":
        if len(rest) != 1 or pairs:
            raise ParamError("Give one alarm name, like `/triage alarm prod-api-5xx`.")
        return AlarmRun(rest[0])
    if verb == "timeline":
        if len(rest) != 1 or pairs:
            raise ParamError("Give one alarm name, like `/triage timeline prod-api-5xx`.")
        return Timeline(rest[0])
    if rest:
        raise ParamError(
            f"Parameters are key=value pairs; `{echo(rest[0])}` is not one. "
            f"Try `/triage {echo(verb)} name=value`."
        )
    return PlaybookRun(verb, pairs)


def _history(rest: list[str], pairs: dict[str, str]) -> History:
    if pairs or len(rest) > 1 or (rest and not rest[0].isdigit()):
        raise ParamError("`/triage history` takes an optional count, like `/triage history 20`.")
    limit = int(rest[0]) if rest else 10
    if not 1 <= limit <= MAX_HISTORY:
        raise ParamError(f"Ask for 1 to {MAX_HISTORY} runs, like `/triage history 20`.")
    return History(limit)


def _handover(rest: list[str], pairs: dict[str, str]) -> Handover:
    usage = "`/triage handover` takes an optional `since=`, like `/triage handover since=8h`."
    if rest or set(pairs) - {"since"}:
        raise ParamError(usage)
    if "since" not in pairs:
        return Handover()
    try:
        since = parse_duration(pairs["since"])
    except ValueError:
        raise ParamError(usage) from None
    if since > HANDOVER_LONGEST:
        raise ParamError("`since=` goes back 7 days at most, like `since=7d`.")
    return Handover(since)
