"""Settings → everything the bot runs on, or every problem as ``file:line:col: message``.

The one loader behind ``triagebot check``, ``run`` and ``serve``: what ``check`` accepts, ``serve``
builds, and what ``check`` rejects, ``serve`` and ``run`` refuse with the same lines. It reads the
playbooks once (the configured directories, plus the paths ``check`` was given), then checks what
the config says about them:

- every ``[[routes]]`` entry names a playbook that exists, and alarms that no route matches have
  their fallback playbook (``alarm-default``, ``health``);
- a route's ``match.account`` is an account id or the name of an ``[[aws.accounts]]`` entry
  (names are resolved to ids here, so routes can say ``account = "prod"``);
- an account's ``regions`` bound where the bot looks in it (see ``bot.account_checks``);
- a route's ``runbook_url`` and ``dashboard_url`` are URLs, or templates reading the alarm;
- the digest's and the hand-over's cron and time zone make a schedule APScheduler accepts.

Config problems point into the TOML file; playbook problems point into the playbook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger

from bot.account_checks import account_problems, account_with_id, step_problems
from bot.account_regions import outside_regions
from bot.alarms.routing import DEFAULT_PLAYBOOK, HEALTH_PLAYBOOK
from bot.config import AwsAccount, DigestSettings, HandoverSettings, Route, Settings
from bot.config_lines import locate
from bot.digest.schedule import cron_trigger
from bot.errors import ConfigError, did_you_mean
from bot.playbooks.catalog import Catalog, check_catalog
from bot.playbooks.links import LINK_LABELS, link_problems
from bot.playbooks.schema import Playbook
from bot.steps.registry import Registry

ACCOUNT_ID_LENGTH = 12


@dataclass(frozen=True)
class ResolvedRoute:
    """A ``[[routes]]`` entry (1-based ``number``, as problems name it) and its playbook."""

    number: int
    route: Route
    playbook: Playbook


@dataclass(frozen=True)
class Loaded:
    """What ``serve`` runs on. ``settings`` is the input with route accounts resolved to ids."""

    settings: Settings
    catalog: Catalog
    routes: tuple[ResolvedRoute, ...]
    digest: CronTrigger | None  # the validated digest schedule, when [digest] is set
    accounts: Mapping[str, AwsAccount]  # [[aws.accounts]] by name
    handover: CronTrigger | None = None  # the hand-over schedule, when [handover] is set


class LoadFailed(ConfigError):
    """The config or a playbook is wrong; ``problems`` holds one ``file:line:col: …`` each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load(settings: Settings, registry: Registry, *, serving: bool = False) -> Loaded:
    """Everything ``serve`` and ``run`` need; LoadFailed listing every problem otherwise.
    ``serving``: also the secrets only a running server needs (the paging routing key)."""
    loaded, problems = check_settings(settings, registry)
    if loaded is None:
        raise LoadFailed(problems)
    if serving:
        problems = paging_key_problems(settings, ConfigText.read(settings))
        if problems:
            raise LoadFailed(problems)
    return loaded


def check_settings(
    settings: Settings, registry: Registry, extra_paths: Iterable[Path] = ()
) -> tuple[Loaded | None, list[str]]:
    """What ``triagebot check`` reports: the loaded bot (None if anything is wrong) and every
    problem. ``extra_paths`` are playbook files or directories checked with the configured ones
    (a file in both is read once)."""
    config = ConfigText.read(settings)
    catalog, playbook_problems = check_catalog([*settings.playbook_dirs(), *extra_paths], registry)
    problems = [str(problem) for problem in playbook_problems]
    accounts = {account.name: account for account in settings.aws.accounts}
    problems += account_problems(settings.aws, config.where)
    problems += step_problems(catalog, accounts)
    routes, route_problems = _resolve_routes(settings, catalog, config)
    if not playbook_problems:  # a route to a broken playbook is reported in that playbook
        problems += route_problems + _fallback_problems(settings, catalog, config)
    problems += _paging_problems(settings, config)
    trigger, digest_problems = _schedule(settings.digest, "digest", config)
    handover, handover_problems = _schedule(settings.handover, "handover", config)
    problems += digest_problems + handover_problems
    if problems:
        return None, problems
    resolved = settings.model_copy(update={"routes": tuple(r.route for r in routes)})
    return Loaded(resolved, catalog, tuple(routes), trigger, accounts, handover), []


@dataclass(frozen=True)
class ConfigText:
    """The config file's name and text, to point a problem at a line."""

    path: str
    text: str

    @classmethod
    def read(cls, settings: Settings) -> ConfigText:
        if not settings.source:
            return cls("config", "")
        try:
            return cls(settings.source, Path(settings.source).read_text(encoding="utf-8"))
        except OSError:
            return cls(settings.source, "")

    def where(self, *loc: str | int) -> str:
        """``file:line:col`` of a key path, or just the file when it is not written there."""
        position = locate(self.text, loc)
        return f"{self.path}:{position.line}:{position.col}" if position else self.path


def _link_problems(route: Route, index: int, config: ConfigText) -> list[str]:
    return [
        f"{config.where('routes', index, key)}: route {index + 1}'s `{key}`: {problem}"
        for key in LINK_LABELS
        for problem in link_problems(getattr(route, key))
    ]


def _resolve_routes(
    settings: Settings, catalog: Catalog, config: ConfigText
) -> tuple[list[ResolvedRoute], list[str]]:
    ids = {account.name: account.role_arn.split(":")[4] for account in settings.aws.accounts}
    routes: list[ResolvedRoute] = []
    problems: list[str] = []
    for index, route in enumerate(settings.routes):
        number = index + 1
        account = route.match.account
        if account is not None and account in ids:
            match = route.match.model_copy(update={"account": ids[account]})
            route = route.model_copy(update={"match": match})
        elif account is not None and not _is_account_id(account):
            hint = did_you_mean(account, ids)
            known = ", ".join(f"`{name}`" for name in ids) or "none configured"
            problems.append(
                f"{config.where('routes', index, 'match', 'account')}: route {number} matches "
                f"account `{account}`, which is neither a 12-digit account id nor a name in "
                f"[[aws.accounts]] ({known}).{hint}"
            )
        problems += _region_problem(settings, route, index, config)
        problems += _link_problems(route, index, config)
        if route.playbook not in catalog:
            hint = did_you_mean(route.playbook, catalog.names())
            problems.append(
                f"{config.where('routes', index, 'playbook')}: route {number} names playbook "
                f"`{route.playbook}`, which does not exist.{hint}"
            )
            continue
        routes.append(ResolvedRoute(number, route, catalog.get(route.playbook)))
    return routes, problems


def _paging_problems(settings: Settings, config: ConfigText) -> list[str]:
    """A route that pages needs ``[paging]`` to say where."""
    if settings.paging is not None:
        return []
    return [
        f"{config.where('routes', index, 'page')}: route {index + 1} pages "
        f"`{route.page}`, but there is no [paging] table (its `url` and `routing_key_env`)."
        for index, route in enumerate(settings.routes)
        if route.page
    ]


def paging_key_problems(settings: Settings, config: ConfigText) -> list[str]:
    """``serve`` with a route that pages needs the routing key in the environment."""
    paging = settings.paging
    if paging is None or settings.secrets.pagerduty_routing_key is not None:
        return []
    pages = [index for index, route in enumerate(settings.routes) if route.page]
    if not pages:
        return []
    return [
        f"{config.where('paging', 'routing_key_env')}: route {pages[0] + 1} pages PagerDuty, "
        f"so serve needs its routing key in ${paging.routing_key_env}, which is not set."
    ]


def _region_problem(settings: Settings, route: Route, index: int, config: ConfigText) -> list[str]:
    """A route for one account and region: the region must be one of that account's."""
    accounts = {account.name: account for account in settings.aws.accounts}
    account = account_with_id(accounts, route.match.account or "")
    if account is None or route.match.region is None:
        return []
    outside = outside_regions(account, route.match.region)
    if outside is None:
        return []
    return [f"{config.where('routes', index, 'match', 'region')}: route {index + 1}: {outside}"]


def _fallback_problems(settings: Settings, catalog: Catalog, config: ConfigText) -> list[str]:
    """An alarm no route matches runs ``alarm-default`` (a Health event ``health``): unless a
    route catches every alarm of that source, that playbook must exist."""
    problems = []
    fallbacks = (
        ("alarm", "an alarm", DEFAULT_PLAYBOOK),
        ("health", "a Health event", HEALTH_PLAYBOOK),
    )
    for source, what, playbook in fallbacks:
        if playbook in catalog or _caught(settings.routes, source):
            continue
        problems.append(
            f"{config.where('routes')}: {what} that no route matches runs playbook "
            f"`{playbook}`, which does not exist: add a playbook named `{playbook}`, or a last "
            f'route with match = {{ source = "{source}" }}.'
        )
    return problems


def _caught(routes: Iterable[Route], source: str) -> bool:
    for route in routes:
        keys = route.match.model_dump(exclude_defaults=True)
        if not keys or keys == {"source": source}:
            return True
    return False


def _schedule(
    section: DigestSettings | HandoverSettings | None, name: str, config: ConfigText
) -> tuple[CronTrigger | None, list[str]]:
    if section is None:
        return None, []
    try:
        return cron_trigger(section.cron, section.timezone, name), []
    except ConfigError as exc:
        return None, [f"{config.where(name, 'cron')}: {exc.user_message}"]


def _is_account_id(value: str) -> bool:
    return len(value) == ACCOUNT_ID_LENGTH and value.isdigit()
