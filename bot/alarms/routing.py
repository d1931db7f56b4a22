"""Which playbook runs for an alarm, and in which channel: the ``[[routes]]`` of the config.

Routes are tried in order and the first whose every given key matches wins. A key left out of
``match`` matches anything. With no match, a Health event runs the ``health`` playbook and
anything else ``alarm-default``, in the default channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from bot.alarms.model import Alarm, AlarmSource
from bot.config import Route, RouteMatch
from bot.regions import region_code

DEFAULT_PLAYBOOK = "alarm-default"
HEALTH_PLAYBOOK = "health"


@dataclass(frozen=True)
class RouteDecision:
    """The playbook to run and where; ``route_index`` is None when no route matched."""

    playbook: str
    channel: str
    route_index: int | None


def route(alarm: Alarm, routes: Sequence[Route], default_channel: str) -> RouteDecision:
    """The first route that matches the alarm, else the default playbook for its source."""
    for index, candidate in enumerate(routes):
        if matches(candidate.match, alarm):
            return RouteDecision(
                playbook=candidate.playbook,
                channel=candidate.channel or default_channel,
                route_index=index,
            )
    fallback = HEALTH_PLAYBOOK if alarm.source == AlarmSource.HEALTH else DEFAULT_PLAYBOOK
    return RouteDecision(playbook=fallback, channel=default_channel, route_index=None)


def matches(match: RouteMatch, alarm: Alarm) -> bool:
    """Every key the route sets agrees with the alarm (alarm_name is a case-sensitive glob)."""
    if match.alarm_name is not None and not fnmatchcase(alarm.name, match.alarm_name):
        return False
    if match.source is not None and match.source != alarm.source.value:
        return False
    if match.region is not None and (region_code(match.region) or match.region) != alarm.region:
        return False
    exact = (
        (match.namespace, alarm.namespace),
        (match.metric_name, alarm.metric_name),
        (match.account, alarm.account),
    )
    if any(wanted is not None and wanted != actual for wanted, actual in exact):
        return False
    return all(alarm.dimensions.get(key) == value for key, value in match.dimensions.items())
