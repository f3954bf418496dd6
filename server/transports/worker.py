"""An output's own thread for its blocking calls (muxing, file and network I/O), in order, off the event loop;
it says how long the call in progress has been running, so a stalled one can be noticed."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Worker:
    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._since: float | None = None  # when the call in progress began

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` on the worker thread, after every call submitted before it. Cancelling the caller does not
        stop a call that has begun; later calls still wait for it."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._timed, fn, args)

    def _timed(self, fn: Callable[..., T], args: tuple) -> T:
        self._since = time.monotonic()
        try:
            return fn(*args)
        finally:
            self._since = None

    def busy_for(self) -> float:
        """How long the call in progress has been running (0 when idle)."""
        since = self._since
        return 0.0 if since is None else time.monotonic() - since

    def shutdown(self) -> None:
        """End the thread; call it once the last call has been awaited (it then returns at once)."""
        self._pool.shutdown(wait=True)
