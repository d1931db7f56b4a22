"""An alarm's link buttons: the ``runbook_url`` and ``dashboard_url`` of the route it matched
(each wins over its playbook's), filled in with the alarm. A template that fails for this alarm
(a dimension it lacks) or renders to no safe URL is logged and left out; the root and the run
message show the other buttons all the same."""

from __future__ import annotations

import logging

from bot.alarms.model import Alarm
from bot.alarms.routing import route
from bot.config import Settings
from bot.playbooks.catalog import Catalog
from bot.playbooks.links import LINK_LABELS, render_link, safe_url
from bot.playbooks.templating import TemplateFailure
from bot.render.links import LinkButton

log = logging.getLogger(__name__)


class AlarmLinks:
    """``links(alarm)``: the link buttons for the alarm's incident and its runs."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self._settings = settings
        self._catalog = catalog

    def __call__(self, alarm: Alarm) -> tuple[LinkButton, ...]:
        decision = route(alarm, self._settings.routes, self._settings.slack.default_channel)
        matched = (
            self._settings.routes[decision.route_index]
            if decision.route_index is not None
            else None
        )
        playbook = (
            self._catalog.get(decision.playbook) if decision.playbook in self._catalog else None
        )
        links = []
        for key, label in LINK_LABELS.items():
            source = str(getattr(matched, key, "") or getattr(playbook, key, ""))
            url = self._render(key, source, alarm)
            if url:
                links.append(LinkButton(name=key.removesuffix("_url"), label=label, url=url))
        return tuple(links)

    def _render(self, key: str, source: str, alarm: Alarm) -> str:
        if not source:
            return ""
        try:
            url = render_link(source, alarm.template_context())
        except TemplateFailure as exc:
            log.warning("no %s button for %s: %s", key, alarm.name, exc)
            return ""
        if safe_url(url) is None:
            log.warning("no %s button for %s: %r is not an http(s) URL", key, alarm.name, url[:200])
            return ""
        return url
