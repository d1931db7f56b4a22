"""moto server in its own process, with DynamoDB's conditional writes made atomic.

moto evaluates a write's condition and applies it without a lock, so two requests handled on
two of its threads can both pass one ``attribute_not_exists``; DynamoDB cannot. When several
``triagebot serve`` processes share one moto server, that gap would make the test measure moto's
race instead of the bot's conditions. ``python -m tests.support.atomic_moto PORT`` closes it
the way ``tests/store/conftest.py`` does for in-process tests (one lock around every DynamoDB
write), then serves moto on ``127.0.0.1:PORT`` until SIGTERM. ``atomic_moto()`` starts and stops
it.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from bot.demo.moto_server import LocalAws

DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def make_writes_atomic(patch: Callable[[Any, str, Any], None]) -> None:
    """Every DynamoDB write of this process's moto runs under one lock, from its request
    handler (which copies the item it is about to change before calling the backend) through
    the backend's write: ``patch(owner, name, value)`` replaces each (``setattr``, or a
    monkeypatch's, to be undone)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()

    def locked(write: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(write)
        def under_lock(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return write(*args, **kwargs)

        return under_lock

    for owner in (DynamoHandler, DynamoDBBackend):
        for name in DYNAMODB_WRITES:
            patch(owner, name, locked(getattr(owner, name)))


def atomic_moto() -> LocalAws:
    """The launcher below as a child process on a free port of 127.0.0.1."""
    return LocalAws(in_process=False, launcher=[sys.executable, "-m", "tests.support.atomic_moto"])


def main(port: int) -> None:
    from moto.server import ThreadedMotoServer

    make_writes_atomic(setattr)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    server.start()
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))
