"""One built wheel in one fresh venv for the whole session, shared by the wheel test and the
container rehearsal. Everything lives in a world-searchable temporary folder (pytest's own is
private to root), so the rehearsal's unprivileged user can run the venv."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.dockerfile import Dockerfile, build_context
from tests.support.fresh_venv import (
    build_wheel,
    default_cache,
    make_venv,
    shared_python,
    wheelhouse,
)

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    """The wheel installed in a fresh venv outside the checkout."""

    root: Path  # the world-searchable folder holding it all; tests make their folders here
    wheel: Path
    venv: Path

    @property
    def triagebot(self) -> Path:
        return self.venv / "bin" / "triagebot"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@pytest.fixture(scope="session")
def dockerfile() -> Dockerfile:
    return Dockerfile(ROOT / "Dockerfile")


@pytest.fixture(scope="session")
def installed(dockerfile: Dockerfile) -> Iterator[Installed]:
    root = Path(tempfile.mkdtemp(prefix="triagebot-deploy-"))
    root.chmod(0o755)
    # The build stage: the files it COPYs (after .dockerignore), then `pip wheel` on them.
    context = build_context(ROOT, dockerfile.copied_sources(0), root / "context")
    wheel = build_wheel(context, root / "dist")
    wheels = wheelhouse("triagebot", default_cache())
    venv = make_venv(shared_python(), root / "venv", wheel, wheels)
    shutil.rmtree(context)
    yield Installed(root=root, wheel=wheel, venv=venv)
    for test in root.glob("test-*"):  # their read-only folders, so the tree can be removed
        for folder in (test, *test.rglob("*")):
            if folder.is_dir() and not folder.is_symlink():
                folder.chmod(0o755)
    shutil.rmtree(root)


@pytest.fixture
def workdir(installed: Installed) -> Path:
    """A folder for one test, outside the checkout, reachable by the unprivileged user."""
    folder = Path(tempfile.mkdtemp(dir=installed.root, prefix="test-"))
    folder.chmod(0o755)
    return folder
