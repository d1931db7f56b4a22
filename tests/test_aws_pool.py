"""The pool AWS calls run on: a burst's threads end once idle, and calls after that still run."""

from __future__ import annotations

import gc
import threading
import time
import weakref

from bot.aws_pool import CallPool


def wait_until(check: object, timeout: float = 10.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.01)


def test_idle_threads_end_and_later_calls_get_new_ones() -> None:
    pool = CallPool(4, idle_s=0.1)
    release = threading.Event()
    try:
        burst = [pool.submit(release.wait, 10) for _ in range(4)]
        wait_until(lambda: pool.threads == 4)
        release.set()
        assert all(f.result(timeout=10) for f in burst)
        wait_until(lambda: pool.threads == 0)  # nothing to do: every thread of the burst ended
        assert pool.submit(lambda: 42).result(timeout=10) == 42  # a new thread takes it
        assert pool.threads <= 1
    finally:
        pool.shutdown()


def test_a_busy_pool_keeps_its_threads_and_loses_no_call() -> None:
    pool = CallPool(2, idle_s=0.01)  # threads time out between calls all the time
    try:
        results = [pool.submit(lambda n=n: n * 2) for n in range(500)]
        assert [f.result(timeout=10) for f in results] == [n * 2 for n in range(500)]
    finally:
        pool.shutdown()


def test_an_idle_thread_holds_nothing_of_the_call_it_ran() -> None:
    # An AWS call's function is a bound method of the caller's AwsClients (its boto3 sessions,
    # megabytes of service models): a thread waiting for its next call must not keep it alive.
    class Caller:
        def call(self) -> int:
            return 7

    pool = CallPool(1, idle_s=60)
    try:
        caller = Caller()
        gone = weakref.ref(caller)
        assert pool.submit(caller.call).result(timeout=10) == 7
        del caller
        wait_until(lambda: gc.collect() >= 0 and gone() is None)
        assert pool.threads == 1, "the thread is still there, idle"
    finally:
        pool.shutdown()
