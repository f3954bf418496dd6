"""The shared synthesis pool: syntheses that hang give their slot up to fresh threads, within a bound, and the
threads come back (or end) when the engine returns."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from server.synthesis_pool import SynthesisPool

STALL_S = 0.2


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def hang(release: threading.Event) -> str:
    release.wait(30)
    return "late"


def test_jobs_run_on_idle_workers_at_once():
    pool = SynthesisPool(2, STALL_S, 4)
    try:
        for i in range(20):  # each job finds the workers idle: every one must be woken, none may sleep through
            assert pool.submit(lambda i=i: i * i).result(timeout=2) == i * i
        ran_on = [pool.submit(lambda: (time.sleep(0.05), threading.current_thread().name)[1]) for _ in range(6)]
        assert len({future.result(timeout=5) for future in ran_on}) == 2, "both threads work when both are needed"
        assert pool.thread_count == 2
    finally:
        pool.shutdown()


def test_hung_jobs_give_their_slots_to_fresh_threads(release):
    stalls: list[int] = []
    pool = SynthesisPool(2, STALL_S, 4, on_stall=stalls.append)
    try:
        hung = [pool.submit(hang, release) for _ in range(3)]
        wait_until(lambda: pool.stalled == 3)
        began = time.monotonic()
        assert pool.submit(lambda: "on time").result(timeout=2) == "on time"
        assert time.monotonic() - began < 1.0
        assert pool.thread_count <= 2 + 3 and max(stalls) == 3
        release.set()
        assert [f.result(timeout=5) for f in hung] == ["late"] * 3  # late results still reach their callers
        wait_until(lambda: pool.stalled == 0 and pool.thread_count == 2)
        assert stalls[-1] == 0
    finally:
        pool.shutdown()


def test_an_engine_that_hangs_every_call_gets_no_more_than_max_stalled_threads(release):
    pool = SynthesisPool(1, STALL_S, 2)
    try:
        hung = [pool.submit(hang, release) for _ in range(6)]
        time.sleep(8 * STALL_S)
        assert pool.thread_count == 1 + 2, "one slot and two stalled threads at most"
        assert pool.stalled == 3  # the third stalled thread got no replacement
        assert sum(f.running() for f in hung) == 3
        release.set()
        assert [f.result(timeout=5) for f in hung] == ["late"] * 6
        wait_until(lambda: pool.stalled == 0 and pool.thread_count == 1)
    finally:
        pool.shutdown()


def test_failures_and_cancellation_reach_the_caller(release):
    pool = SynthesisPool(1, 10.0, 0)
    try:
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(timeout=2)
        blocker = pool.submit(hang, release)
        queued = pool.submit(lambda: "never")
        assert queued.cancel() and queued.cancelled()
        release.set()
        assert blocker.result(timeout=5) == "late"
        assert pool.submit(lambda: "after").result(timeout=2) == "after"
    finally:
        pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)


def test_worker_threads_run_the_initializer():
    names: list[str] = []
    pool = SynthesisPool(2, STALL_S, 1, initializer=lambda: names.append(threading.current_thread().name))
    try:
        for future in [pool.submit(time.sleep, 0.05) for _ in range(4)]:
            future.result(timeout=5)
        assert sorted(names) == ["tts_0", "tts_1"]
    finally:
        pool.shutdown()
