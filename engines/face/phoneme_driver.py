"""The phoneme face driver: mouth parameters straight from the TTS engine's phoneme timings.

It shows the viseme curves (engines/face/visemes.py) that the audio-to-face network is trained to reproduce,
so it serves before the network exists and as `--face-driver phonemes` after. It ignores the audio itself
(speech without phonemes, such as a live voice, leaves the mouth at rest) and only uses its length to know
how far the timeline reaches. A frame comes out once the audio pushed covers its centre plus the look-ahead,
and is computed only from phonemes that start before that point, so the frames do not depend on how the
audio was cut into pushes.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from engines.face.base import FaceEngine, FaceStream
from engines.face.visemes import mouth_curves
from engines.timebase import (
    N_PARAMS,
    SAMPLES_PER_FRAME,
    TIMELINE_RATE,
    FrameParams,
    frame_center,
)
from engines.tts.base import Timed

DEFAULT_LOOKAHEAD_S = 0.1  # longer than the coarticulation reach of the next phoneme (a few x 50 ms Gaussian)
_MEMORY_S = 0.5  # phonemes that ended this long before the next frame can no longer move it


class PhonemeFaceStream(FaceStream):
    """One session's phonemes on the timeline, turned into frames as the audio covering them arrives."""

    def __init__(self, lookahead_s: float = DEFAULT_LOOKAHEAD_S) -> None:
        self._lookahead = int(round(lookahead_s * TIMELINE_RATE))
        self.reset(0)

    @property
    def lookahead_samples(self) -> int:
        return self._lookahead

    def reset(self, start_sample: int) -> None:
        self._end = start_sample
        self._next_frame = max(0, math.ceil((start_sample - SAMPLES_PER_FRAME // 2) / SAMPLES_PER_FRAME))
        self._phonemes: list[Timed] = []  # in seconds of the timeline, sorted by start

    async def push(self, pcm48: np.ndarray, phonemes: Sequence[Timed] = ()) -> FrameParams:
        offset = self._end / TIMELINE_RATE
        shifted = [Timed(p.text, p.start + offset, p.end + offset) for p in phonemes]
        self._phonemes = sorted(self._phonemes + shifted, key=lambda p: p.start)
        self._end += len(pcm48)
        return self._ready_frames()

    def _ready_frames(self) -> FrameParams:
        first = self._next_frame
        last = (self._end - self._lookahead - SAMPLES_PER_FRAME // 2) // SAMPLES_PER_FRAME  # inclusive
        if last < first:
            return FrameParams(first, np.zeros((0, N_PARAMS), dtype=np.float32))
        frames = np.arange(first, last + 1)
        params = self._frames(frames)
        self._next_frame = last + 1
        self._forget_before(frame_center(self._next_frame) / TIMELINE_RATE - _MEMORY_S)
        return FrameParams(first, params)

    def _frames(self, frames: np.ndarray) -> np.ndarray:
        """Each frame from the phonemes starting before its centre plus the look-ahead."""
        centres = frame_center(frames) / TIMELINE_RATE
        starts = np.array([p.start for p in self._phonemes])
        known = np.searchsorted(starts, centres + self._lookahead / TIMELINE_RATE, side="left")
        params = np.empty((len(frames), N_PARAMS), dtype=np.float32)
        for count in np.unique(known):
            rows = known == count
            params[rows] = mouth_curves(self._phonemes[:count], centres[rows])
        return params

    def _forget_before(self, time_s: float) -> None:
        self._phonemes = [p for p in self._phonemes if p.end >= time_s]


class PhonemeFaceEngine(FaceEngine):
    """Stateless apart from the streams: the table needs no shared model."""

    name = "phonemes"
    backend = "table"

    def __init__(self, lookahead_s: float = DEFAULT_LOOKAHEAD_S) -> None:
        self._lookahead_s = lookahead_s

    def open_stream(self) -> FaceStream:
        return PhonemeFaceStream(self._lookahead_s)
