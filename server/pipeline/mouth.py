"""Mouth parameters scheduled per video frame, and what the renderer is shown when a frame has none."""
from __future__ import annotations

import numpy as np

from engines.timebase import REST, FrameParams


class MouthSchedule:
    """Frame-indexed mouth parameters, filled ahead of playback by the face stream and taken as frames are due."""

    def __init__(self, release_frames: int) -> None:
        """`release_frames`: frames over which the mouth returns to rest once speech stops or is interrupted
        (docs/protocol.md allows 3)."""
        self._release_frames = release_frames
        self._params: dict[int, np.ndarray] = {}
        self._floor = 0
        self._shown = REST.copy()
        self._release_from: np.ndarray | None = None
        self._released = 0  # frames since the release began

    def add(self, frames: FrameParams) -> None:
        for offset, params in enumerate(frames.params):
            index = frames.first_frame + offset
            if index >= self._floor:
                self._params[index] = np.asarray(params, dtype=np.float32)

    def clear_from(self, frame: int) -> None:
        """Drop every scheduled frame from `frame` on (interrupt): the mouth eases to rest from where it is."""
        for index in [i for i in self._params if i >= frame]:
            del self._params[index]

    def take(self, frame: int) -> np.ndarray:
        """Parameters to show for `frame`; without a scheduled value the mouth eases to rest in release_frames:
        ease-out (the remaining opening falls as (1 - k/n)^2), so most of it is gone in the first frame."""
        for index in range(self._floor, frame):
            self._params.pop(index, None)
        self._floor = max(self._floor, frame + 1)
        params = self._params.pop(frame, None)
        if params is None:
            if self._release_from is None:
                self._release_from, self._released = self._shown, 0
            self._released += 1
            left = max(0.0, 1.0 - self._released / self._release_frames) ** 2
            self._shown = (self._release_from * left).astype(np.float32)
        else:
            self._release_from = None
            self._shown = params
        return self._shown

    def scheduled(self) -> int:
        return len(self._params)
