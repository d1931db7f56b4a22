"""``GET /healthz`` tells the truth: a store that cannot keep what it is given, or a bot token
Slack refuses, is 503 with the problem named, and ``POST /sns`` answers 503 (SNS retries) for an
alarm it cannot record. Real ``triagebot serve`` processes on real SQLite files, faults made
real: the directory deleted, the files made immutable (``chattr +i``: we run as root, and root
ignores file modes), a tmpfs filled up. See docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import build_app
from bot.config import load_settings
from bot.demo.moto_server import free_port
from bot.demo.slack_api import FakeSlackApi
from bot.store.sqlite import SqliteStore
from bot.timings import Timings
from tests.faults.threads import each_once_with_its_result
from tests.support.bot_serve import CHANNEL, bot_serve, healthz, post_alarm

SETTLE_S = 6.0  # the health check is cached for 1 s: a fault shows within this


async def until_status(url: str, status: int, timeout: float = SETTLE_S) -> dict[str, Any]:
    """Poll ``/healthz`` until it answers ``status``; its report."""
    deadline = time.monotonic() + timeout
    last: tuple[int, dict[str, Any]] = (0, {})
    while time.monotonic() < deadline:
        code, report, _ = await healthz(url)
        if code == status:
            return report
        last = (code, report)
        await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz stayed {last[0]} {last[1]}, wanted {status}")


def store_problem(report: dict[str, Any], path: Path) -> str:
    [problem] = [p for p in report["problems"] if p.startswith("store:")]
    assert str(path) in problem, problem
    return str(problem)


def chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


@pytest.fixture
def immutable_files(tmp_path: Path) -> Iterator[list[Path]]:
    """Files the test makes immutable (``chattr +i``); made mutable again afterwards."""
    probe = tmp_path / "chattr-probe"
    probe.write_text("x")
    try:
        chattr("+i", probe)
        chattr("-i", probe)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"chattr +i does not work here ({exc}): no way to make a file unwritable")
    paths: list[Path] = []
    yield paths
    for path in paths:
        with contextlib.suppress(subprocess.CalledProcessError):
            chattr("-i", path)


async def test_healthz_reports_each_check(
    tmp_path: Path, slack: FakeSlackApi, moto_url: str
) -> None:
    bot = bot_serve(
        tmp_path, store=tmp_path / "state.db", slack_url=slack.base_url, moto_url=moto_url
    )
    await bot.start()
    try:
        status, report, _ = await healthz(bot.url)
        assert status == 200, report
        assert report["status"] == "ok" and report["problems"] == []
        assert report["store"] == "ok" and report["store_latency_ms"] >= 0
        assert report["inbox_failed"] == 0
        assert report["slack"] in {"ok", "unknown"}  # auth.test runs in the background
        assert report["socket"] == "off"
        await slack.wait_for("auth.test")
        assert (await until_slack(bot.url, "ok"))["status"] == "ok"
    finally:
        await bot.terminate()


async def until_slack(url: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        _, report, _ = await healthz(url)
        if str(report["slack"]).startswith(state):
            return report
        await asyncio.sleep(0.05)
    raise AssertionError(f"/healthz never said slack {state}: {report}")


async def test_the_store_directory_deleted_is_503_and_sns_is_refused_for_a_retry(
    tmp_path: Path, slack: FakeSlackApi, moto_url: str
) -> None:
    data = tmp_path / "data"
    db = data / "state.db"
    bot = bot_serve(tmp_path, store=db, slack_url=slack.base_url, moto_url=moto_url)
    await bot.start()
    try:
        assert await post_alarm(bot.url) == 200
        await each_once_with_its_result(slack, CHANNEL, ["fault-test-5xx"])  # what it took is out
        shutil.rmtree(data)  # the open connection would write on into the deleted files
        started = time.monotonic()
        report = await until_status(bot.url, 503)
        assert time.monotonic() - started < SETTLE_S
        assert "gone" in store_problem(report, db)
        assert report["status"] == "degraded" and report["store"] == "unavailable"
        assert await post_alarm(bot.url, "after-the-delete") == 503
        assert not data.exists(), "nothing was written to a new, empty store behind our back"
    finally:
        await bot.terminate()


async def test_an_unwritable_store_is_503_and_recovers_when_writable_again(
    tmp_path: Path, slack: FakeSlackApi, moto_url: str, immutable_files: list[Path]
) -> None:
    db = tmp_path / "data" / "state.db"
    bot = bot_serve(tmp_path, store=db, slack_url=slack.base_url, moto_url=moto_url)
    await bot.start()
    try:
        assert await post_alarm(bot.url) == 200
        wal = db.with_name("state.db-wal")
        assert wal.exists()
        # The database and its write-ahead log: writes fail with "disk I/O error". (Not the
        # -shm file: SQLite maps it into memory, and an immutable one kills the process with
        # SIGBUS — a crash an orchestrator sees for itself.)
        immutable_files.extend([db, wal])
        chattr("+i", db, wal)
        report = await until_status(bot.url, 503)
        store_problem(report, db)
        assert await post_alarm(bot.url, "while-read-only") == 503
        chattr("-i", db, wal)
        await until_status(bot.url, 200)
        assert await post_alarm(bot.url, "writable-again") == 200
        assert await post_alarm(bot.url, "while-read-only") == 200  # SNS delivers it again
        await each_once_with_its_result(
            slack, CHANNEL, ["fault-test-5xx", "while-read-only", "writable-again"]
        )
    finally:
        await bot.terminate()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of our own, unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Write zeros until the disk is full; the file that filled it."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
                os.fsync(out.fileno())
        except OSError:
            pass
    return filler


async def test_a_full_disk_is_503_and_sns_is_refused_for_a_retry(
    tmp_path: Path, slack: FakeSlackApi, moto_url: str, small_disk: Path
) -> None:
    db = small_disk / "state.db"
    bot = bot_serve(tmp_path, store=db, slack_url=slack.base_url, moto_url=moto_url)
    await bot.start()
    try:
        assert await post_alarm(bot.url) == 200
        filler = fill(small_disk)
        report = await until_status(bot.url, 503)
        assert "full" in store_problem(report, db)
        assert await post_alarm(bot.url, "on-a-full-disk") == 503
        filler.unlink()
        await until_status(bot.url, 200)
        assert await post_alarm(bot.url, "room-again") == 200
        assert await post_alarm(bot.url, "on-a-full-disk") == 200  # SNS delivers it again
        await each_once_with_its_result(
            slack, CHANNEL, ["fault-test-5xx", "on-a-full-disk", "room-again"]
        )
    finally:
        await bot.terminate()


async def test_start_up_refuses_a_store_it_cannot_write_and_names_it(
    tmp_path: Path, slack: FakeSlackApi, moto_url: str, immutable_files: list[Path]
) -> None:
    db = tmp_path / "data" / "state.db"
    store = SqliteStore(db)
    await store.start()
    await store.close()
    immutable_files.append(db)
    chattr("+i", db)  # SQLite opens it read-only without a word: reads work, writes do not
    bot = bot_serve(tmp_path, store=db, slack_url=slack.base_url, moto_url=moto_url)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--config", str(bot.config)],
        env=bot.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert f"will not start on a store it cannot write: the store {db}" in done.stderr
    assert "Traceback" not in done.stderr


# Slack: the in-process app over real HTTP, with a short auth.test interval.


@pytest.fixture
async def app_url(tmp_path: Path, slack: FakeSlackApi, moto_url: str) -> AsyncIterator[str]:
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "state.db"}"\n')
    settings = load_settings(
        config,
        env={
            "SLACK_BOT_TOKEN": "xoxb-health-test",
            "SLACK_SIGNING_SECRET": "health-test-secret",
            "SLACK_API_URL": slack.base_url,
            "AWS_ENDPOINT_URL": moto_url,
        },
    )
    timings = Timings(
        health_cache=timedelta(seconds=0.1),
        slack_auth_interval=timedelta(seconds=0.2),
        slack_backoff=timedelta(seconds=0.01),
    )
    app = build_app(settings, timings=timings)
    runner = web.AppRunner(app.web, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_slack_refusing_the_token_is_503_naming_slack(
    app_url: str, slack: FakeSlackApi
) -> None:
    await until_slack(app_url, "ok")
    slack.fail_next("auth.test", error="invalid_auth", times=10_000)
    report = await until_status(app_url, 503)
    [problem] = report["problems"]
    assert problem.startswith("slack:") and "invalid_auth" in problem
    assert report["slack"] == "refused: invalid_auth"


async def test_slack_down_is_reported_but_not_503(app_url: str, slack: FakeSlackApi) -> None:
    await until_slack(app_url, "ok")
    slack.set_down(True)  # no restart of ours fixes Slack's outage
    report = await until_slack(app_url, "unreachable")
    async with aiohttp.ClientSession() as http, http.get(f"{app_url}/healthz") as response:
        assert response.status == 200, report
