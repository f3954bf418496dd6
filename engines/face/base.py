"""The audio-to-face interface: speech on a session's timeline in, one mouth-parameter vector per video frame out.

Every session lives on one timeline of 48 kHz samples (engines/timebase.py); video frame n shows the mouth at
its centre, sample n*1920 + 960. A `FaceStream` (one per session) is fed that
timeline's speech in order and returns the mouth parameters of every frame it can now compute; a `FaceEngine`
(one per process) creates the streams and owns whatever they share, such as a batched network.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from engines.timebase import FrameParams
from engines.tts.base import Timed


class FaceStream(ABC):
    """Per-session streaming state. Audio is pushed in timeline order; frames come out once computable."""

    @property
    @abstractmethod
    def lookahead_samples(self) -> int:
        """Timeline samples past a frame's centre that must be pushed before that frame can be computed."""

    @abstractmethod
    def reset(self, start_sample: int) -> None:
        """Forget everything and continue at `start_sample` (after silence, or after an interrupt)."""

    @abstractmethod
    async def push(self, pcm48: np.ndarray, phonemes: Sequence[Timed] = ()) -> FrameParams:
        """Append int16 48 kHz audio at the stream's current end, with the phonemes the TTS gave for it
        (seconds from the chunk's first sample; empty for a live voice). Returns the frames now computable."""

    async def flush(self) -> FrameParams:
        """Push the look-ahead's worth of silence so the frames up to the current end come out."""
        return await self.push(np.zeros(self.lookahead_samples, dtype=np.int16))


class FaceEngine(ABC):
    """One per process: creates per-session streams and shares the expensive parts between them."""

    name: str  # "network" or "phonemes"
    backend: str  # e.g. "onnxruntime", "tensorrt", "table"

    @abstractmethod
    def open_stream(self) -> FaceStream:
        """A fresh stream positioned at timeline sample 0."""

    async def close(self) -> None:
        """Release shared resources (threads, GPU buffers)."""
