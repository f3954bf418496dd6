"""The speech-synthesis workers every session shares, kept usable when an engine hangs.

A thread stuck in a synthesis cannot be killed, so it is given up on instead: once a synthesis has run for
`stall_s`, its thread stops counting as one of the pool's `threads` and a fresh thread takes its slot, so the
phrases of other sessions go on being synthesized on time. The stalled thread finishes its call whenever the
engine returns (the caller has given up on it at its own deadline by then, or takes the late result) and then
rejoins the pool or ends. At most `max_stalled` threads are stalled with a replacement; an engine that hangs on
every call stops getting fresh threads beyond that, so the process never piles up threads without bound.

A native call that hangs while holding the GIL freezes the whole process and no thread pool helps against it;
such an engine must run in a process of its own.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Job:
    future: Future
    call: Callable[[], Any]


@dataclass(eq=False)
class _Worker:
    thread: threading.Thread | None = None
    busy_since: float | None = None  # time.monotonic() when its current job began
    stalled: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class SynthesisPool(Executor):
    def __init__(
        self,
        threads: int,
        stall_s: float,
        max_stalled: int,
        *,
        name: str = "tts",
        initializer: Callable[..., None] | None = None,
        initargs: tuple = (),
        on_stall: Callable[[int], None] | None = None,
    ) -> None:
        """`on_stall(stalled)` is called (from one of the pool's threads) whenever a thread stalls or a stalled
        one returns, with the number stalled now."""
        if threads < 1:
            raise ValueError("a synthesis pool needs at least one thread")
        self._threads = threads
        self._stall_s = stall_s
        self._max_stalled = max_stalled
        self._name = name
        self._initializer = initializer
        self._initargs = initargs
        self._on_stall = on_stall or (lambda stalled: None)
        self._lock = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._active: set[_Worker] = set()  # the workers holding one of the `threads` slots
        self._stalled: set[_Worker] = set()
        self._idle = 0
        self._shutdown = False
        self._stopping = threading.Event()  # the watchdog's own: it must never take a worker's notify
        self._names = itertools.count()
        self._watchdog = threading.Thread(target=self._watch, name=f"{name}_watchdog", daemon=True)
        self._watchdog.start()

    @property
    def stalled(self) -> int:
        """Threads stuck in a synthesis past `stall_s` right now."""
        with self._lock:
            return len(self._stalled)

    @property
    def thread_count(self) -> int:
        """Every thread of the pool, stalled ones included (the watchdog not counted)."""
        with self._lock:
            return len(self._active) + len(self._stalled)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("the synthesis pool is shut down")
            self._jobs.append(_Job(future, lambda: fn(*args, **kwargs)))
            if self._idle:
                self._lock.notify()
            if len(self._jobs) > self._idle and self._room():  # more work than idle workers to wake
                self._start_worker()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; stalled threads are not waited for (they may never return)."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._jobs:
                    self._jobs.popleft().future.cancel()
            workers = list(self._active)
            self._lock.notify_all()
        self._stopping.set()
        if wait:
            for worker in workers:
                worker.done.wait()

    def _room(self) -> bool:
        """Whether another thread may start: a free slot, and stalled threads within their limit."""
        total = len(self._active) + len(self._stalled)
        return len(self._active) < self._threads and total < self._threads + self._max_stalled

    def _start_worker(self) -> None:
        worker = _Worker()
        worker.thread = threading.Thread(
            target=self._work, args=(worker,), name=f"{self._name}_{next(self._names)}", daemon=True
        )
        self._active.add(worker)
        worker.thread.start()

    def _work(self, worker: _Worker) -> None:
        try:
            if self._initializer is not None:
                self._initializer(*self._initargs)
            while (job := self._next_job(worker)) is not None:
                if job.future.set_running_or_notify_cancel():
                    try:
                        job.future.set_result(job.call())
                    except BaseException as exc:  # the caller's future carries every failure
                        job.future.set_exception(exc)
                if not self._finished(worker):
                    return
        finally:
            worker.done.set()

    def _next_job(self, worker: _Worker) -> _Job | None:
        with self._lock:
            while not self._jobs:
                if self._shutdown:
                    self._active.discard(worker)
                    return None
                self._idle += 1
                self._lock.wait()
                self._idle -= 1
            worker.busy_since = time.monotonic()
            return self._jobs.popleft()

    def _finished(self, worker: _Worker) -> bool:
        """After a job: whether this worker goes on serving (a stalled one only if its slot is free again)."""
        with self._lock:
            worker.busy_since = None
            if not worker.stalled:
                return True
            worker.stalled = False
            self._stalled.discard(worker)
            stalled = len(self._stalled)
            rejoin = len(self._active) < self._threads and not self._shutdown
            if rejoin:
                self._active.add(worker)
        log.info("a stalled synthesis thread returned (%s); %d still stalled", "rejoins" if rejoin else "ends", stalled)
        self._on_stall(stalled)
        return rejoin

    def _watch(self) -> None:
        period = max(0.02, self._stall_s / 4)
        while not self._stopping.wait(period):
            with self._lock:
                now = time.monotonic()
                late = [w for w in self._active if w.busy_since is not None and now - w.busy_since >= self._stall_s]
                for worker in late:
                    self._stall(worker)
                stalled = len(self._stalled)
            for _ in late:
                self._on_stall(stalled)

    def _stall(self, worker: _Worker) -> None:
        worker.stalled = True
        self._active.discard(worker)
        self._stalled.add(worker)
        if self._room():
            if self._jobs:
                self._start_worker()
            log.warning("a synthesis has run for over %.1f s: its thread is set aside, %d stalled now",
                        self._stall_s, len(self._stalled))
        else:
            log.error("%d synthesis threads are stalled (limit %d): no fresh thread replaces this one; the engine "
                      "seems to hang on every call", len(self._stalled), self._max_stalled)
