"""One media clock per session: audio and video are paced from the same origin, so they cannot drift apart.

`MediaClock` follows the event loop's clock (live sessions). `VirtualClock` moves only when told: tests pull frames
in fake time and offline rendering runs the same pipeline faster than real time.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools

from engines.timebase import TIMELINE_RATE


class MediaClock:
    """Session time since the origin, set when the session's media starts flowing (the first output pulls)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._origin: float | None = None

    @property
    def started(self) -> bool:
        return self._origin is not None

    def start(self) -> None:
        if self._origin is None:
            self._origin = self._loop.time()

    def now(self) -> float:
        """Seconds since the origin (0 before the media starts)."""
        return 0.0 if self._origin is None else self._loop.time() - self._origin

    def sample_now(self) -> int:
        return int(self.now() * TIMELINE_RATE)

    async def sleep_until(self, seconds: float) -> None:
        self.start()
        delay = seconds - self.now()
        if delay > 0:
            await asyncio.sleep(delay)


class VirtualClock(MediaClock):
    """Session time that advances only through `advance_to`; sleepers wake in time order as it passes them."""

    def __init__(self) -> None:
        super().__init__()
        self._time = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def start(self) -> None:
        self._origin = 0.0

    def now(self) -> float:
        return self._time

    async def sleep_until(self, seconds: float) -> None:
        self.start()
        if seconds <= self._time:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._sleepers, (seconds, next(self._order), waiter))
        await waiter

    def advance_to(self, seconds: float) -> None:
        """Move session time forward to `seconds` and wake everyone sleeping until then."""
        self._time = max(self._time, seconds)
        while self._sleepers and self._sleepers[0][0] <= self._time:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)
