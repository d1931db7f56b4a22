"""A local AWS: moto server on a free loopback port, in a thread or in its own process.

The demo and the end-to-end tests point boto3 (``AWS_ENDPOINT_URL``) and the ``aws`` CLI at
it. moto is an optional dependency (``pip install 'triagebot[demo]'``).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalAws:
    """moto server on 127.0.0.1. ``in_process=False`` runs it as a subprocess (no shared GIL):
    ``launcher`` is that subprocess's command, given the port as its last argument (default
    moto's own server; tests use one that patches moto first)."""

    def __init__(self, *, in_process: bool = True, launcher: Sequence[str] = ()) -> None:
        self._in_process = in_process
        self._launcher = list(launcher) or [
            sys.executable,
            *("-m", "moto.server", "-H", "127.0.0.1", "-p"),
        ]
        self._thread_server: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.port = free_port()
        if self._in_process:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)

            self._thread_server = ThreadedMotoServer(
                ip_address="127.0.0.1", port=self.port, verbose=False
            )
            self._thread_server.start()
        else:
            self._process = subprocess.Popen(
                [*self._launcher, str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        self._wait_ready()
        return self.url

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self._thread_server is not None:
            self._thread_server.stop()
            self._thread_server = None
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> LocalAws:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise RuntimeError(f"moto server exited with {code} before it answered")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server did not start on port {self.port}")
