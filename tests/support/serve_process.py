"""``triagebot serve`` as a child process, for the crash tests and the benchmarks: started with
a config and an environment, waited on until ``/healthz`` answers, stopped or killed; and
``serve_config``, the config such a process starts from."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

from bot.demo.moto_server import free_port
from tests.alarms.signing import TOPIC, signer


def serve_config(
    folder: Path,
    *,
    channel: str,
    store_url: str = "",
    server: str = "",
    store: str = "",
    extra: str = "",
) -> tuple[Path, int]:
    """``folder/config.toml`` for a test's ``triagebot serve`` on a free port of 127.0.0.1: the
    default channel, the store (SQLite in ``folder`` unless ``store_url``), the test topic with
    our signing certificate placed in ``folder/certs``; ``server`` and ``store`` add lines to
    their tables, ``extra`` whole tables after them. Returns the file and the port."""
    signer().place(folder / "certs")
    port = free_port()
    config = folder / "config.toml"
    config.write_text(
        f"""
[slack]
default_channel = "{channel}"
[server]
host = "127.0.0.1"
port = {port}
{server}
[store]
url = "{store_url or f"sqlite:///{folder / 'state.db'}"}"
{store}
[sns]
topic_arns = ["{TOPIC}"]
cert_dir = "certs"
{extra}
"""
    )
    return config, port


class ServeProcess:
    """One ``python -m bot serve --config CONFIG`` process, its output in ``log``; or
    ``command`` instead (another install's ``triagebot serve``), run as ``user`` (a uid whose
    group is the same number) when given."""

    def __init__(
        self,
        config: Path,
        port: int,
        env: Mapping[str, str],
        log: Path,
        command: Sequence[str] | None = None,
        user: int | None = None,
    ) -> None:
        self.config = config
        self.port = port
        self.env = dict(env)
        self.log = log
        self.command = list(
            command or [sys.executable, "-m", "bot", "serve", "--config", str(config)]
        )
        self.user = user
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 30.0, **env: str) -> None:
        """Start it (``env`` overrides for this start) and wait until it is healthy."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self.user,
                group=self.user,
                extra_groups=None if self.user is None else [],
            )
        await self.wait_healthy(timeout)

    async def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"triagebot serve exited:\n{self.log_text()}")
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"triagebot serve not healthy in {timeout}s:\n{self.log_text()}")

    def kill(self) -> None:
        """SIGKILL, and reap it: its pid no longer exists afterwards."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM (a graceful stop), SIGKILL if that takes longer than ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    async def terminate(self, timeout: float = 40.0) -> int | None:
        """``stop``, waited on in a thread: fakes it talks to on this event loop (the Slack Web
        API) go on answering while it drains, instead of making it wait out its timeouts."""
        return await asyncio.to_thread(self.stop, timeout)

    def memory(self) -> dict[str, str]:
        """VmRSS and VmHWM of the process, from /proc."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return {
            line.split(":")[0]: line.split(":")[1].strip()
            for line in status.splitlines()
            if line.startswith(("VmRSS", "VmHWM"))
        }

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""
