"""Who gets a session: a fixed ceiling, and optionally measured headroom (are open sessions still on time?)."""
from __future__ import annotations

import time
from collections import deque


class LatenessWindow:
    """The share of video frames, across all sessions, rendered after their due time in the last few seconds."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._buckets: deque[list[int]] = deque()  # [whole second, frames, late frames]

    def record(self, late: bool, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
        bucket = self._buckets[-1]
        bucket[1] += 1
        bucket[2] += int(late)
        self._expire(second)

    def late_fraction(self, now: float | None = None) -> float:
        self._expire(int(time.monotonic() if now is None else now))
        frames = sum(b[1] for b in self._buckets)
        return sum(b[2] for b in self._buckets) / frames if frames else 0.0

    def _expire(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - self._window_s:
            self._buckets.popleft()


class Admission:
    def __init__(self, max_sessions: int, by_headroom: bool, max_late_fraction: float, window_s: float) -> None:
        self.max_sessions = max_sessions
        self._by_headroom = by_headroom
        self._max_late_fraction = max_late_fraction
        self.lateness = LatenessWindow(window_s)

    def refusal(self, open_sessions: int) -> str | None:
        """Why a new session would be refused now, or None to admit it."""
        if open_sessions >= self.max_sessions:
            return f"the server is full ({self.max_sessions} sessions); retry later"
        if self._by_headroom and self.lateness.late_fraction() > self._max_late_fraction:
            return "the server has no headroom left (open sessions are rendering late frames); retry later"
        return None
