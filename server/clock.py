"""One media clock per session: both tracks pace themselves from the same origin, so they cannot drift apart."""
from __future__ import annotations

import asyncio

from engines.timebase import TIMELINE_RATE


class MediaClock:
    """Session time since the origin, set when the first track asks for its first frame."""

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
        """Seconds since the origin (0 before the tracks start)."""
        return 0.0 if self._origin is None else self._loop.time() - self._origin

    def sample_now(self) -> int:
        return int(self.now() * TIMELINE_RATE)

    def wall_time_of(self, seconds: float) -> float:
        """Event-loop time at which session time `seconds` is reached."""
        self.start()
        assert self._origin is not None
        return self._origin + seconds

    async def sleep_until(self, seconds: float) -> None:
        delay = self.wall_time_of(seconds) - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
