"""Who may run what, where: ``[access]`` and each playbook's ``allow`` / ``mutating``.

Every entry point (slash command, modal, buttons, confirm dialogs) asks this one place, and
every refusal says why. ``refusal_now`` answers without waiting on Slack (what an ack may use);
``refusal`` may look up user groups first.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.config import AccessSettings
from bot.outbound.sender import SlackSender
from bot.playbooks.schema import Playbook

GROUP_CACHE_SECONDS = 300.0


class AccessPolicy:
    def __init__(
        self,
        settings: AccessSettings,
        sender: SlackSender,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._sender = sender  # user groups: usergroups.users.list
        self._clock = clock
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    def channel_refusal(self, channel: str) -> str | None:
        allowed = self._settings.allowed_channels
        if not allowed or channel in allowed:
            return None
        where = ", ".join(f"<#{c}>" for c in allowed)
        return f"triagebot is not enabled in this channel. Use it in {where}."

    def is_admin(self, user: str) -> bool:
        return user in self._settings.admins

    async def refusal(self, playbook: Playbook, user: str, channel: str) -> str | None:
        """None when ``user`` may run ``playbook`` in ``channel``; else the reason, for them.
        May wait on Slack (user-group members): call it after the ack."""
        refused = self.refusal_now(playbook, user, channel)
        if not isinstance(refused, Pending):
            return refused
        for group in _groups_of(playbook.allow):
            if user in await self._members(group):
                return None
        return _allow_refusal(playbook)

    def refusal_now(self, playbook: Playbook, user: str, channel: str) -> str | Pending | None:
        """``refusal`` from what is known without asking Slack — what the ack may wait for —
        or PENDING when a user group's members must be looked up first."""
        refused = self.channel_refusal(channel)
        if refused:
            return refused
        if playbook.mutating and not self.is_admin(user):
            return (
                f"`{playbook.name}` changes AWS (it is marked `mutating: true`), so only the "
                "admins listed in `[access] admins` may run it."
            )
        if not playbook.allow or user in playbook.allow:
            return None
        known = [self._cached(group) for group in _groups_of(playbook.allow)]
        if any(members is not None and user in members for members in known):
            return None
        if any(members is None for members in known):
            return PENDING
        return _allow_refusal(playbook)

    def _cached(self, group: str) -> frozenset[str] | None:
        cached = self._groups.get(group)
        if cached and self._clock() - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        return None

    async def _members(self, group: str) -> frozenset[str]:
        cached = self._cached(group)
        if cached is not None:
            return cached
        members = await self._sender.usergroup_members(group)  # a failure is logged there
        if members is None:
            members = frozenset()
        self._groups[group] = (self._clock(), members)
        return members


class Pending:
    """The access answer needs a user group's members from Slack: it comes after the ack."""


PENDING = Pending()


def _groups_of(allow: tuple[str, ...]) -> list[str]:
    return [entry for entry in allow if entry.startswith("S")]


def _allow_refusal(playbook: Playbook) -> str:
    who = ", ".join(_mention(entry) for entry in playbook.allow)
    return f"`{playbook.name}` may only be run by {who}. Ask one of them to run it."


def _mention(entry: str) -> str:
    return f"<!subteam^{entry}>" if entry.startswith("S") else f"<@{entry}>"
