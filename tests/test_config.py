from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import config_path, load_settings
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_is_valid_and_documents_defaults() -> None:
    settings = load_settings(ROOT / "config.example.toml", env={})
    assert settings.server.port == 3000
    assert settings.alarms.storm_window == timedelta(minutes=2)
    assert settings.store.url == "sqlite:///triagebot.db"
    assert settings.digest is None


def test_example_config_commented_examples_are_valid(tmp_path: Path) -> None:
    """Uncommenting every example in config.example.toml still gives a valid config."""
    text = (ROOT / "config.example.toml").read_text()
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("# [") or (stripped.startswith("# ") and " = " in stripped):
            candidate = stripped[2:]
            if candidate.split("=")[0].strip().replace("_", "").isalnum() or candidate.startswith(
                "["
            ):
                line = candidate
        lines.append(line)
    path = tmp_path / "full.toml"
    path.write_text("\n".join(lines))
    settings = load_settings(path, env={})
    assert settings.aws.accounts[0].name == "prod"
    assert settings.routes[0].playbook == "alb-errors"
    assert settings.digest is not None and settings.digest.timezone == "Europe/Berlin"
    assert settings.sqs is not None


def test_unknown_key_names_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[slack]\ndefault_channel = "C1"\n\n[server]\nhost = "x"\nprot = 80\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.user_message == (
        f"{path}:6:1: unknown key `server.prot`. Did you mean `port`?"
    )


def test_wrong_type_names_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[server]\nport = "eighty"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.user_message.startswith(f"{path}:2:1: `server.port`:")


def test_bad_duration_and_timezone(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[alarms]\nstorm_window = "soon"\n[digest]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    message = caught.value.user_message
    assert f"{path}:2:1: `alarms.storm_window`" in message and "30s, 5m" in message
    assert f"{path}:4:1: `digest.timezone`" in message and "Europe/Berlin" in message


def test_secrets_only_from_environment_and_never_printed(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[slack]\nbot_token = "xoxb-in-file"\n')
    with pytest.raises(ConfigError, match=r"unknown key `slack\.bot_token`"):
        load_settings(path, env={})
    settings = load_settings(
        None, env={"SLACK_BOT_TOKEN": "xoxb-secret", "SLACK_SIGNING_SECRET": "s3cr3t"}
    )
    assert settings.secrets.slack_bot_token is not None
    assert settings.secrets.slack_bot_token.get_secret_value() == "xoxb-secret"
    assert "xoxb-secret" not in repr(settings) and "s3cr3t" not in str(settings.model_dump())


def test_environment_values(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        env={
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "AWS_REGION": "eu-west-1",
        },
    )
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert settings.aws_endpoint_url == "http://127.0.0.1:5000"
    assert settings.aws.region == "eu-west-1"


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    path.write_text('[store]\nurl = "sqlite:///state/bot.db"\n[playbooks]\ndirs = ["mine"]\n')
    settings = load_settings(path, env={})
    assert settings.sqlite_path() == path.parent / "state" / "bot.db"
    assert settings.playbook_dirs()[-1] == path.parent / "mine"


def test_config_text_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``$TRIAGEBOT_CONFIG_TOML`` holds the TOML itself (a container's config): used unless
    ``--config`` is given — also over ``$TRIAGEBOT_CONFIG``, which the image sets to its
    built-in file — with paths relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text('[slack]\ndefault_channel = "CFILE"\n')
    text = '[slack]\ndefault_channel = "CENV"\n[store]\nurl = "sqlite:///state/bot.db"\n'
    env = {"TRIAGEBOT_CONFIG_TOML": text}

    assert config_path(None, env) is None  # the text wins over ./config.toml
    settings = load_settings(config_path(None, env), env=env)
    assert settings.slack.default_channel == "CENV"
    assert settings.source == "$TRIAGEBOT_CONFIG_TOML"
    assert settings.sqlite_path() == Path(".") / "state" / "bot.db"

    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text('[slack]\ndefault_channel = "CPATH"\n')
    image = {**env, "TRIAGEBOT_CONFIG": str(elsewhere)}  # the image's default path, and the text
    assert load_settings(config_path(None, image), env=image).slack.default_channel == "CENV"
    explicit = load_settings(config_path(str(elsewhere), image), env=image)
    assert explicit.slack.default_channel == "CPATH"
    without_text = {"TRIAGEBOT_CONFIG": str(elsewhere)}
    assert load_settings(
        config_path(None, without_text), env=without_text
    ).slack.default_channel == ("CPATH")

    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"TRIAGEBOT_CONFIG_TOML": '[slack]\ndefault_chanel = "C1"\n'})
    assert caught.value.user_message.startswith(
        "$TRIAGEBOT_CONFIG_TOML:2:1: unknown key `slack.default_chanel`"
    )
    with pytest.raises(ConfigError, match=r"^\$TRIAGEBOT_CONFIG_TOML: "):
        load_settings(None, env={"TRIAGEBOT_CONFIG_TOML": "[slack\n"})
