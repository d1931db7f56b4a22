"""The threads boto3 calls run on: at most ``max_workers`` calls at once, and a call given up
on does not count against that while its thread finishes.

``concurrent.futures.ThreadPoolExecutor`` would keep a thread whose call was abandoned (a step
timed out) busy and counted until botocore gives up, so a burst of calls to a hung endpoint
starves every call after it, and the interpreter waits for those threads at exit. Here an
abandoned call's thread leaves the count at once (the next call gets a new thread), ends when
its call does (bounded: ``bot.aws_deadline``), and is a daemon, so a process that is done
exits without waiting for it. A thread idle for ``idle_s`` ends, so a burst's threads do not
stay for the life of the process.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class _Job:
    future: Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    worker: threading.Thread | None = None
    abandoned: bool = False


@dataclass
class _Counts:
    counted: int = 0  # threads that count against max_workers
    idle: int = 0  # counted threads waiting for a job
    queued: int = 0  # jobs not yet taken
    jobs: dict[int, _Job] = field(default_factory=dict)  # by id(future), until done


class CallPool(Executor):
    """A thread pool for blocking calls that may be abandoned (see the module doc)."""

    def __init__(self, max_workers: int, name: str = "aws", *, idle_s: float = 60.0) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max = max_workers
        self._name = name
        self._idle_s = idle_s  # a thread with nothing to do for this long ends
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._counts = _Counts()
        self._serial = 0
        self._closed = False

    @property
    def threads(self) -> int:
        """Threads counted against ``max_workers`` now (abandoned ones are not)."""
        with self._lock:
            return self._counts.counted

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        job = _Job(future, fn, args, dict(kwargs))
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after close")
            counts = self._counts
            counts.jobs[id(future)] = job
            counts.queued += 1
            if counts.idle < counts.queued and counts.counted < self._max:
                self._start_thread()
        self._queue.put(job)
        return future

    def abandon(self, future: Future[Any]) -> None:
        """Nobody waits for ``future`` any more: if its call is running, its thread stops
        counting against ``max_workers`` (and ends with the call); if not, it never runs."""
        if future.cancel():
            return
        with self._lock:
            job = self._counts.jobs.get(id(future))
            if job is None or job.abandoned or job.worker is None:
                return
            job.abandoned = True
            self._counts.counted -= 1
            counts = self._counts
            if not self._closed and counts.queued > counts.idle and counts.counted < self._max:
                self._start_thread()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new calls; idle threads end. Running calls are not waited for (daemon threads)."""
        with self._lock:
            self._closed = True
            threads = self._counts.counted
        if cancel_futures:
            with self._lock:
                pending = [job.future for job in self._counts.jobs.values() if job.worker is None]
            for future in pending:
                future.cancel()
        for _ in range(threads):
            self._queue.put(None)

    def _start_thread(self) -> None:
        """Called with the lock held."""
        self._serial += 1
        self._counts.counted += 1
        thread = threading.Thread(
            target=self._work, name=f"{self._name}_{self._serial}", daemon=True
        )
        thread.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._counts.idle += 1
            try:
                job = self._queue.get(timeout=self._idle_s)
            except queue.Empty:
                with self._lock:
                    self._counts.idle -= 1
                    if self._counts.queued <= self._counts.idle:  # the others take what waits
                        self._counts.counted -= 1
                        return
                continue
            with self._lock:
                self._counts.idle -= 1
                if job is None:
                    self._counts.counted -= 1
                    return
                self._counts.queued -= 1
                job.worker = me
            self._run(job)
            with self._lock:
                del self._counts.jobs[id(job.future)]
                if job.abandoned:  # it no longer counts: another thread took its place
                    return
            # Waiting for the next job, hold nothing of this one: its function (a bound method
            # of whoever called) and arguments would otherwise stay alive for ``idle_s``.
            del job

    @staticmethod
    def _run(job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            result = job.fn(*job.args, **job.kwargs)
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)
