"""The bot's App Home tab: open incidents, the viewer's own recent runs, and the playbooks they
may run (each with a *Run* button that opens the playbook modal).

``home_view`` is pure (what was read in, a Block Kit ``home`` view out); ``HomeTab`` reads the
store, asks ``[access]`` and publishes the view with ``views.publish`` each time it is opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.access import AccessPolicy
from bot.config import Settings
from bot.incidents.handover import OpenIncident, route_names, run_channels, thread_link
from bot.outbound.sender import SlackSender
from bot.playbooks.catalog import Catalog
from bot.playbooks.schema import Playbook
from bot.render.limits import MAX_SECTION_TEXT, context_block, truncate
from bot.render.mrkdwn import escape, link, mention
from bot.slack.modal import parameter_view
from bot.store.base import RunRecord, Store

HOME_RUN_ACTION = "home_run"  # a playbook's *Run* button: its value is the playbook name
LOOKBACK = timedelta(days=30)  # an incident opened longer ago than this is not looked for
PER_ROUTE = 20
RUNS_SHOWN = 5
INCIDENTS_SHOWN = 20
PLAYBOOKS_SHOWN = 60  # with the headers and "more" lines, well under a Home view's 100 blocks
PER_CHANNEL = 50  # runs read per channel to find the viewer's own


def home_view(
    incidents: Sequence[OpenIncident],
    runs: Sequence[RunRecord],
    playbooks: Sequence[Playbook],
    now: datetime,
) -> dict[str, Any]:
    """The ``home`` view: incidents newest first as given, runs as given, one *Run* each."""
    return {
        "type": "home",
        "blocks": [
            _header("Open incidents"),
            *_listed([_incident(i, now) for i in incidents], INCIDENTS_SHOWN, "No open incidents."),
            _header("Your recent runs"),
            *_listed([_run(r) for r in runs], RUNS_SHOWN, "You have not run a playbook yet."),
            _header("Playbooks you may run"),
            *_listed(
                [_playbook(p) for p in playbooks], PLAYBOOKS_SHOWN, "No playbook is open to you."
            ),
        ],
    }


def _listed(blocks: list[dict[str, Any]], cap: int, empty: str) -> list[dict[str, Any]]:
    """At most ``cap`` blocks and a line counting the rest (a Home view holds 100 blocks)."""
    if not blocks:
        return [context_block([empty])]
    hidden = len(blocks) - cap
    return blocks[:cap] + ([context_block([f"…and {hidden} more"])] if hidden > 0 else [])


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}


def _incident(item: OpenIncident, now: datetime) -> dict[str, Any]:
    inc = item.incident
    name = link(item.link, inc.alarm_name) if item.link else f"*{escape(inc.alarm_name)}*"
    ack = f"acked by {mention(inc.acknowledged_by)}" if inc.acknowledged_by else "not acknowledged"
    return _section(f"{name} · `{escape(inc.state)}` · {_age(now - inc.opened_at)} · {ack}")


def _run(run: RunRecord) -> dict[str, Any]:
    when = int(run.started_at.timestamp())
    return _section(
        f"`{escape(run.playbook)}` · {escape(run.outcome)} · "
        f"<!date^{when}^{{date_short_pretty}} {{time}}|{run.started_at:%Y-%m-%d %H:%M} UTC>"
    )


def _playbook(playbook: Playbook) -> dict[str, Any]:
    about = f" — {escape(playbook.description)}" if playbook.description else ""
    return {
        **_section(f"`{escape(playbook.name)}`{about}"),
        "accessory": {
            "type": "button",
            "action_id": HOME_RUN_ACTION,
            "text": {"type": "plain_text", "text": "Run"},
            "value": playbook.name,
        },
    }


def _age(age: timedelta) -> str:
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        return f"{minutes // 60}h {minutes % 60}m"
    return f"{minutes // (24 * 60)}d {minutes // 60 % 24}h"


class HomeTab:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        sender: SlackSender,
        catalog: Catalog,
        access: AccessPolicy,
    ) -> None:
        self._settings = settings
        self._store = store
        self._sender = sender
        self._catalog = catalog
        self._access = access
        self._channel = settings.slack.default_channel  # where a run from Home posts

    async def on_opened(self, event: dict[str, Any], now: datetime) -> None:
        """``app_home_opened``: publish a fresh Home tab for the viewer (after the ack)."""
        if event.get("tab", "home") != "home":
            return  # the Messages tab
        user = str(event.get("user") or "")
        incidents, runs, playbooks = await asyncio.gather(
            self._open_incidents(now), self._runs_of(user), self._playbooks_for(user)
        )
        view = home_view(incidents, runs, playbooks, now)
        await self._sender.publish_view(user, view)  # a failure is logged there

    async def on_run(self, body: dict[str, Any]) -> None:
        """A *Run* button on the Home tab: the playbook modal, that playbook chosen. Its
        submission is the modal's (access is asked again there); results post to the default
        channel."""
        name = next((str(a.get("value") or "") for a in body.get("actions", [])), "")
        if name not in self._catalog.names():
            return  # removed since the tab was published
        view = parameter_view(self._catalog, self._channel, self._catalog.get(name))
        await self._sender.open_view(str(body.get("trigger_id") or ""), view)

    async def _open_incidents(self, now: datetime) -> list[OpenIncident]:
        found = await asyncio.gather(
            *(
                self._store.incidents_of_route(name, now - LOOKBACK, PER_ROUTE)
                for name in route_names(self._settings)
            )
        )
        still_open = sorted(
            (i for batch in found for i in batch if i.is_open),
            key=lambda i: i.opened_at,
            reverse=True,
        )
        shown, rest = still_open[:INCIDENTS_SHOWN], still_open[INCIDENTS_SHOWN:]
        links = await asyncio.gather(*(thread_link(self._sender, i) for i in shown))  # shown only
        linked = [OpenIncident(i, url) for i, url in zip(shown, links, strict=True)]
        return linked + [OpenIncident(i, "") for i in rest]

    async def _runs_of(self, user: str) -> list[RunRecord]:
        channels = [c for c in run_channels(self._settings) if c]
        found = await asyncio.gather(*(self._store.recent_runs(c, PER_CHANNEL) for c in channels))
        mine = (r for batch in found for r in batch if r.user == user)
        return sorted(mine, key=lambda r: r.started_at, reverse=True)[:RUNS_SHOWN]

    async def _playbooks_for(self, user: str) -> list[Playbook]:
        return await _allowed(self._access, self._catalog, user, self._channel)


async def _allowed(
    access: AccessPolicy, playbooks: Iterable[Playbook], user: str, channel: str
) -> list[Playbook]:
    candidates = list(playbooks)
    refusals = await asyncio.gather(*(access.refusal(p, user, channel) for p in candidates))
    return [p for p, refused in zip(candidates, refusals, strict=True) if refused is None]
