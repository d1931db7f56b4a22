"""A fresh virtualenv holding the built triagebot wheel and its runtime dependencies, nothing
else: what the container image's final stage installs, made quickly and offline.

The runtime dependencies come from a wheelhouse repacked from the distributions already
installed in the dev venv (exactly the versions the suite runs with; no network). pip resolves
the wheel's own ``Requires-Dist`` against that wheelhouse, so a dependency missing from
pyproject.toml is missing here too.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

_NOT_PACKED = ("INSTALLER", "REQUESTED", "RECORD", "direct_url.json")


def build_wheel(context: Path, out: Path) -> Path:
    """``pip wheel --no-deps`` of a source tree (the Docker build context), with the dev venv's
    setuptools (no build isolation: nothing is fetched)."""
    setuptools = metadata.version("setuptools")
    if int(setuptools.split(".")[0]) < 77:  # pyproject.toml's build-system.requires
        raise RuntimeError(f"setuptools {setuptools} in the dev venv; the build needs >= 77")
    _run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--wheel-dir", str(out), str(context)),
        ]
    )
    (wheel,) = out.glob("triagebot-*.whl")
    return wheel


def runtime_closure(project: str) -> list[metadata.Distribution]:
    """The installed distributions ``project`` needs at run time (no extras), transitively."""
    found: dict[str, metadata.Distribution] = {}
    todo = [Requirement(text) for text in metadata.requires(project) or []]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found[name] = metadata.distribution(requirement.name)
        todo += [Requirement(text) for text in found[name].requires or []]
    return list(found.values())


def repack(distribution: metadata.Distribution, out: Path) -> Path:
    """An installed distribution back into a wheel: its RECORD's files under site-packages and
    its WHEEL tags (scripts are left out; pip writes them again from entry_points.txt)."""
    info = Path(str(distribution.locate_file(f"{_dist_info(distribution)}")))
    site = info.parent
    tags = [
        line.split(":", 1)[1].strip()
        for line in (info / "WHEEL").read_text().splitlines()
        if line.startswith("Tag:")
    ]
    python, abi, platform = (".".join(sorted({t.split("-")[n] for t in tags})) for n in range(3))
    name = re.sub(r"[-_.]+", "_", distribution.metadata["Name"])
    wheel = out / f"{name}-{distribution.version}-{python}-{abi}-{platform}.whl"
    record: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        for file in distribution.files or []:
            path = file.as_posix()
            if path.startswith("..") or "__pycache__" in path or path.endswith(_NOT_PACKED):
                continue
            data = (site / path).read_bytes()
            archive.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.append(f"{info.name}/RECORD,,")
        archive.writestr(f"{info.name}/RECORD", "\n".join(record) + "\n")
    return wheel


def _dist_info(distribution: metadata.Distribution) -> str:
    files = distribution.files or []
    (info,) = {f.parts[0] for f in files if f.parts[0].endswith(".dist-info")}
    return info


def wheelhouse(project: str, cache: Path) -> Path:
    """The runtime dependencies of ``project`` as wheels, in ``cache`` (kept between sessions:
    repacking writes ~200 MB). One folder per set of versions; an older set is removed. Safe
    when two sessions make it at once: each builds aside, the first rename wins."""
    closure = sorted(runtime_closure(project), key=lambda d: canonicalize_name(d.metadata["Name"]))
    versions = "\n".join(f"{d.metadata['Name']}=={d.version}" for d in closure)
    key = hashlib.sha256(f"{sys.implementation.cache_tag}\n{versions}".encode()).hexdigest()
    ready = cache / f"wheelhouse-{key[:16]}"
    if ready.is_dir():
        return ready
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=cache, prefix=".building-"))
    for distribution in closure:
        repack(distribution, building)
    try:
        building.rename(ready)
    except OSError:  # another session finished first
        shutil.rmtree(building)
    for old in cache.glob("wheelhouse-*"):
        if old != ready:
            shutil.rmtree(old, ignore_errors=True)
    return ready


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "triagebot-tests"


def shared_python() -> Path:
    """A Python of this version that an unprivileged user can run too (the dev venv's may sit
    under a private home folder): the base interpreter if every folder on its way is
    world-searchable, else a system one."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [Path(sys._base_executable).resolve()]  # type: ignore[attr-defined]
    candidates += [Path(folder) / name for folder in ("/usr/local/bin", "/usr/bin")]
    for candidate in candidates:
        reachable = all(os.stat(folder).st_mode & stat.S_IXOTH for folder in candidate.parents)
        if candidate.is_file() and reachable and candidate.stat().st_mode & stat.S_IXOTH:
            return candidate
    raise RuntimeError(f"no {name} that other users can run among {candidates}")


def make_venv(python: Path, venv: Path, wheel: Path, wheels: Path) -> Path:
    """A venv without pip (pip runs from outside, as in the image) holding ``wheel`` and what
    it requires from ``wheels``; byte-code is written as modules are first imported."""
    _run([str(python), "-m", "venv", "--without-pip", str(venv)])
    _run(
        [
            *(sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"),
            *("--quiet", "--no-compile", "--no-index", "--find-links", str(wheels), str(wheel)),
        ]
    )
    return venv


def _run(argv: list[str]) -> None:
    """Run away from any checkout: a ``triagebot.egg-info`` in the working folder or on
    ``$PYTHONPATH`` would look to pip like triagebot already installed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(argv, capture_output=True, text=True, cwd="/", env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
