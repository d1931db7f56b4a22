"""Settings: the TOML file and the environment, read once into frozen pydantic models.

This is the only module that reads the environment or the config file. Secrets
(``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``, ``SLACK_APP_TOKEN``) come only from the
environment and are held as ``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.config_lines import locate
from bot.durations import Duration
from bot.errors import ConfigError, did_you_mean
from bot.timings import DEFAULT_LEASE, DEFAULT_RETENTION

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


def shipped_playbooks() -> Path:
    """The playbooks that ship with triagebot: package data inside an installed wheel (mapped
    there from the top-level ``playbooks/``), or ``playbooks/`` itself in a source checkout."""
    packaged = resources.files("bot.playbooks") / "shipped"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "playbooks"


def _an_hour_or_more(value: timedelta, doing: str) -> timedelta:
    """A period of at least an hour (a retention, a look-back), whose default is 30 days."""
    if value < timedelta(hours=1):
        raise ValueError(f"{doing} at least an hour (`1h`); the default is `30d`")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _iana_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name like Europe/Berlin"
        ) from None
    return value


class SlackSettings(_Section):
    default_channel: str = ""
    timezone: str = "UTC"  # the times in exported incident timelines
    socket_ping_interval: Duration = timedelta(seconds=10)  # Socket Mode: ping, notice a dead link

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _iana_zone(value)


class ServerSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535)
    # Slow clients are cut off: a request's headers must arrive within header_timeout of its
    # first byte, its body within body_timeout of the headers; an idle keep-alive connection
    # is closed after idle_timeout.
    header_timeout: Duration = timedelta(seconds=10)
    body_timeout: Duration = timedelta(seconds=30)
    idle_timeout: Duration = timedelta(seconds=75)


class AwsAccount(_Section):
    name: str
    role_arn: str = Field(pattern=r"^arn:aws[\w-]*:iam::\d{12}:role/.+$")
    regions: tuple[str, ...] = ()
    external_id: str | None = None


class AwsSettings(_Section):
    region: str = "us-east-1"
    accounts: tuple[AwsAccount, ...] = ()


class SnsSettings(_Section):
    topic_arns: tuple[str, ...] = ()
    cert_dir: str = "certs"
    max_age: Duration = timedelta(hours=1)  # older messages are refused (SNS's retry window)


class SqsSettings(_Section):
    queue_url: str = ""
    raw_delivery: bool = False  # accept bodies without an SNS envelope (trust the queue policy)


class StoreSettings(_Section):
    url: str = "sqlite:///triagebot.db"
    # How long the work of a replica that died stays claimed before another takes it over
    # (an incident's root message being posted); ``Timings.lease``.
    lease: Duration = DEFAULT_LEASE
    # Runs, their outputs, alarm messages and resolved incidents older than this are deleted
    # (a message's id is kept as long as a redelivery may come); ``bot/store/retention.py``.
    retention: Duration = DEFAULT_RETENTION

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "dynamodb://")):
            raise ValueError("use sqlite:///path/to/state.db or dynamodb://table-name")
        return value

    @field_validator("retention")
    @classmethod
    def _long_enough(cls, value: timedelta) -> timedelta:
        return _an_hour_or_more(value, "keep records")


class RouteMatch(_Section):
    alarm_name: str | None = None  # a glob
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)
    account: str | None = None
    region: str | None = None
    source: Literal["alarm", "health"] | None = None


class Route(_Section):
    match: RouteMatch = Field(default_factory=RouteMatch)
    playbook: str
    channel: str = ""
    # Link buttons on the root and the run message (templates of the alarm; each wins over
    # the playbook's own): checked by ``bot.loading``, drawn by ``bot.incidents.links``.
    runbook_url: str = ""
    dashboard_url: str = ""
    history: bool = True  # say in a new incident's thread how often it happened before
    # Hand an incident nobody acknowledged to PagerDuty (``[paging]``) after ``page_after``.
    page: Literal["pagerduty"] | None = None
    page_after: Duration = timedelta(minutes=5)


class AlarmSettings(_Section):
    storm_threshold: int = Field(default=5, ge=1)
    storm_window: Duration = timedelta(minutes=2)


class HistorySettings(_Section):
    """How far back a new incident's thread looks for earlier incidents of the same alarm and
    of other alarms on its resource (``bot/incidents/history.py``)."""

    window: Duration = timedelta(days=30)

    @field_validator("window")
    @classmethod
    def _long_enough(cls, value: timedelta) -> timedelta:
        return _an_hour_or_more(value, "look back")


DEFAULT_PAGING_URL = "https://events.pagerduty.com/v2/enqueue"


class PagingSettings(_Section):
    """Where a route's ``page = "pagerduty"`` sends its Events API v2 messages. The routing key
    is a secret: it comes from the environment variable named here, never from the file."""

    url: str = DEFAULT_PAGING_URL
    routing_key_env: str = Field(
        default="PAGERDUTY_ROUTING_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"
    )


class _Scheduled(_Section):
    """A post on a cron in a time zone, to a channel: ``[digest]``, ``[handover]``."""

    cron: str = "0 9 * * *"
    timezone: str = "UTC"
    channel: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _iana_zone(value)

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(
                "cron needs five fields: minute hour day month weekday, e.g. 0 9 * * *"
            )
        return value


class DigestSettings(_Scheduled):
    group_by_tag: str = ""


class HandoverSettings(_Scheduled):
    """The shift hand-over (``bot/incidents/handover.py``), posted at every shift change."""

    cron: str = "0 8,20 * * *"


class AccessSettings(_Section):
    allowed_channels: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()


class PlaybookSettings(_Section):
    dirs: tuple[str, ...] = ()  # extra directories of playbooks, besides the shipped ones
    shipped: bool = True  # also load the playbooks shipped with triagebot


class FileSettings(_Section):
    """Everything the TOML file may hold; secrets are not among them."""

    slack: SlackSettings = Field(default_factory=SlackSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    aws: AwsSettings = Field(default_factory=AwsSettings)
    sns: SnsSettings = Field(default_factory=SnsSettings)
    sqs: SqsSettings | None = None
    store: StoreSettings = Field(default_factory=StoreSettings)
    routes: tuple[Route, ...] = ()
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    digest: DigestSettings | None = None
    paging: PagingSettings | None = None
    handover: HandoverSettings | None = None
    access: AccessSettings = Field(default_factory=AccessSettings)
    playbooks: PlaybookSettings = Field(default_factory=PlaybookSettings)


class Secrets(_Section):
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None  # from the variable ``[paging]`` names


class Settings(FileSettings):
    """The whole configuration: file settings, secrets and the few plain environment values."""

    secrets: Secrets = Field(default_factory=Secrets)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    aws_endpoint_url: str | None = None
    log_level: str = ""  # $TRIAGEBOT_LOG_LEVEL; "" = the command's default
    source: str = ""  # the file read, or "" for built-in defaults
    base_dir: str = "."  # relative paths in the file are relative to this

    def resolve(self, path: str) -> Path:
        """A path from the config file, relative to the file's own directory."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate

    def playbook_dirs(self) -> list[Path]:
        dirs = [shipped_playbooks()] if self.playbooks.shipped else []
        dirs += [self.resolve(d) for d in self.playbooks.dirs]
        return dirs

    def sqlite_path(self) -> Path | None:
        if not self.store.url.startswith("sqlite:///"):
            return None
        return self.resolve(self.store.url.removeprefix("sqlite:///"))


CONFIG_TOML_ENV = "TRIAGEBOT_CONFIG_TOML"
"""The environment variable holding the config's TOML text itself (a container's config)."""


def config_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """``--config``, else None when ``$TRIAGEBOT_CONFIG_TOML`` holds the text (``load_settings``
    reads it), else ``$TRIAGEBOT_CONFIG``, else ``./config.toml`` if it exists, else None.

    The text wins over ``$TRIAGEBOT_CONFIG`` because the container image sets that variable to
    its built-in file, and a deployment that hands over the text (the Fargate stack) means it."""
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_TOML_ENV):
        return None
    if env.get("TRIAGEBOT_CONFIG"):
        return Path(env["TRIAGEBOT_CONFIG"])
    default = Path("config.toml")
    return default if default.exists() else None


def load_settings(path: Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (if any; without one, the TOML text in ``$TRIAGEBOT_CONFIG_TOML`` if
    set, its relative paths resolved against the working directory) and the environment into
    Settings, or raise ConfigError."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    text = ""
    source: Path | None = path
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc
    elif env.get(CONFIG_TOML_ENV):
        text = env[CONFIG_TOML_ENV]
        source = Path(f"${CONFIG_TOML_ENV}")  # names the variable in error messages
    if source is not None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region and isinstance(data.get("aws", {}), dict) and "region" not in data.get("aws", {}):
        data = {**data, "aws": {**data.get("aws", {}), "region": region}}
    try:
        FileSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, text)) from exc
    secrets = Secrets(
        slack_bot_token=_secret(env, "SLACK_BOT_TOKEN"),
        slack_signing_secret=_secret(env, "SLACK_SIGNING_SECRET"),
        slack_app_token=_secret(env, "SLACK_APP_TOKEN"),
        pagerduty_routing_key=_secret(env, _routing_key_env(data)),
    )
    return Settings.model_validate(
        {
            **data,
            "secrets": secrets,
            "slack_api_url": env.get("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            "aws_endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
            "log_level": env.get("TRIAGEBOT_LOG_LEVEL", "").upper(),
            "source": str(source) if source else "",
            "base_dir": str(path.resolve().parent) if path else ".",
        }
    )


def _routing_key_env(data: Mapping[str, Any]) -> str:
    """The environment variable ``[paging] routing_key_env`` names (validated by now)."""
    paging = data.get("paging")
    default = PagingSettings.model_fields["routing_key_env"].default
    return str(paging.get("routing_key_env", default)) if isinstance(paging, dict) else default


def _secret(env: Mapping[str, str], name: str) -> SecretStr | None:
    value = env.get(name, "")
    return SecretStr(value) if value else None


def _format_errors(exc: ValidationError, path: Path | None, text: str) -> str:
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        dotted = ".".join(loc)
        position = locate(text, loc)
        where = (
            f"{path}:{position.line}:{position.col}" if path and position else str(path or "config")
        )
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            hint = did_you_mean(loc[-1], _field_names(FileSettings, loc[:-1]))
            message = f"unknown key `{dotted}`.{hint}" if hint else f"unknown key `{dotted}`"
        elif error["type"] == "missing":
            message = f"missing key `{dotted}`"
        else:
            message = f"`{dotted}`: {message}"
        lines.append(f"{where}: {message}")
    return "\n".join(lines)


def _field_names(model: type[BaseModel], loc: list[str]) -> list[str]:
    """The keys the config allows at ``loc`` (a table's path; list indexes are skipped)."""
    for part in loc:
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``Foo``, ``Foo | None`` or ``tuple[Foo, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
