"""moto server in its own process, with DynamoDB's conditional writes made atomic.

moto evaluates a write's condition and applies it without a lock, so two requests handled on
two of its threads can both pass one ``attribute_not_exists``; DynamoDB cannot. When several
``triagebot serve`` processes share one moto server, that gap would make the test measure moto's
race instead of the bot's conditions. ``python -m tests.support.atomic_moto PORT`` closes it
the way ``tests/store/conftest.py`` does for in-process tests (one lock around every DynamoDB
write), then serves moto on ``127.0.0.1:PORT`` until SIGTERM. ``AtomicMoto`` starts and stops it.
"""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import Any

from bot.demo.moto_server import free_port

DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def make_dynamodb_atomic() -> None:
    """Every DynamoDB write of this process's moto runs under one lock."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def locked(write: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(write)
        def under_lock(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return write(*args, **kwargs)

        return under_lock

    for name in DYNAMODB_WRITES:
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))


class AtomicMoto:
    """The launcher below as a child process on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.atomic_moto", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto launcher exited with {self._process.returncode}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                return self.url
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server did not start on port {self.port}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> AtomicMoto:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(port: int) -> None:
    from moto.server import ThreadedMotoServer

    make_dynamodb_atomic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    server.start()
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))
