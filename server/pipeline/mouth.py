"""Face parameters scheduled per video frame, and what the renderer is shown when a frame has none: the mouth
(MOUTH_PARAMS) and the speech gestures (GESTURE_PARAMS) each have a schedule."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engines.timebase import REST, FrameParams


def ease_out(t: float) -> float:
    """Fast first, slow last: the mouth lets go of most of its opening in the first frame after speech stops
    (a quarter is left after one of two frames), so an interrupt shows at once."""
    return t * (2 - t)


def smooth(t: float) -> float:
    """Ease in and out: a head let go of comes to rest without a jolt at either end."""
    return t * t * (3 - 2 * t)


class MouthSchedule:
    """Frame-indexed parameters, filled ahead of playback by a face or gesture stream and taken as frames are due."""

    def __init__(self, release_frames: int, rest: np.ndarray = REST, ease: Callable[[float], float] = ease_out) -> None:
        """`release_frames`: frames over which the parameters return to `rest` once speech stops or is interrupted
        (docs/protocol.md allows the mouth 3), along `ease` (0 -> 1)."""
        self._release_frames = max(1, release_frames)
        self._rest = np.asarray(rest, np.float32)
        self._ease = ease
        self._params: dict[int, np.ndarray] = {}
        self._floor = 0
        self._shown = self._rest.copy()
        self._release: tuple[int, np.ndarray] | None = None  # (first frame, offset from rest it eases out)

    def add(self, frames: FrameParams) -> None:
        for offset, params in enumerate(frames.params):
            index = frames.first_frame + offset
            if index >= self._floor:
                self._params[index] = np.asarray(params, dtype=np.float32)

    def clear_from(self, frame: int) -> None:
        """Drop every scheduled frame from `frame` on (interrupt): the parameters ease to rest from where they are."""
        for index in [i for i in self._params if i >= frame]:
            del self._params[index]

    def take(self, frame: int) -> np.ndarray:
        """Parameters to show for `frame`. Where none are scheduled, what was shown last eases to rest over
        release_frames; frames scheduled meanwhile (a new stream starting from rest) come in on top of that ease,
        so nothing jumps."""
        for index in range(self._floor, frame):
            self._params.pop(index, None)
        self._floor = max(self._floor, frame + 1)
        params = self._params.pop(frame, None)
        if params is None and self._release is None:
            self._release = (frame, self._shown - self._rest)
        shown = self._rest if params is None else params
        if self._release is not None:
            first, offset = self._release
            done = (frame - first + 1) / self._release_frames
            if done >= 1.0:
                self._release = None
            else:
                shown = shown + offset * (1.0 - self._ease(done))
        self._shown = np.asarray(shown, np.float32)
        return self._shown

    def scheduled(self) -> int:
        return len(self._params)
