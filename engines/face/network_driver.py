"""The audio-to-face network as the server's face driver: streaming features in, one vector per frame out.

Each session's `NetworkFaceStream` turns its pushed timeline audio into log-mel frames as it arrives and, as soon
as a video frame's window (PAST frames of context, then the network's look-ahead: `future` mel frames, read from
the model file) is complete, asks the shared batcher for that frame. Silence is assumed before the stream's
start, exactly as in training.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from engines.face.backends.base import InferenceBackend
from engines.face.base import FaceEngine, FaceStream
from engines.face.batcher import BatchHook, InferenceBatcher
from engines.face.features import (
    MELS_PER_VIDEO_FRAME,
    N_MELS,
    PAST,
    StreamingLogMel,
    centre_mel,
    mel_ready_at,
    timeline_origin,
)
from engines.timebase import N_PARAMS, SAMPLES_PER_FRAME, FrameParams, frame_center
from engines.tts.base import Timed


def lookahead_samples(future: int) -> int:
    """Timeline samples past a frame's centre that must have arrived before the frame can be computed."""
    return mel_ready_at(centre_mel(0) + future) - frame_center(0)


def first_frame_at(start_sample: int) -> int:
    """The first video frame whose centre is at or after `start_sample`."""
    return max(0, -(-(start_sample - SAMPLES_PER_FRAME // 2) // SAMPLES_PER_FRAME))


def frame_windows(mels: np.ndarray, count: int, window: int) -> np.ndarray:
    """(count, window, N_MELS) windows of consecutive video frames; mel row 0 starts the first frame's window."""
    views = np.lib.stride_tricks.sliding_window_view(mels, window, axis=0)[::MELS_PER_VIDEO_FRAME][:count]
    return np.ascontiguousarray(views.transpose(0, 2, 1), dtype=np.float32)


class NetworkFaceStream(FaceStream):
    def __init__(self, batcher: InferenceBatcher, window: int) -> None:
        self._batcher = batcher
        self._window = window
        self._future = window - PAST - 1
        self.reset(0)

    @property
    def lookahead_samples(self) -> int:
        return lookahead_samples(self._future)

    def reset(self, start_sample: int) -> None:
        self._next_frame = first_frame_at(start_sample)
        self._first_mel = centre_mel(self._next_frame) - PAST  # mel index of self._mels[0]
        self._mels = np.zeros((0, N_MELS), dtype=np.float32)
        self._extractor = StreamingLogMel()
        self._add_features(np.zeros(start_sample - timeline_origin(self._first_mel), dtype=np.int16))

    def _add_features(self, pcm48: np.ndarray) -> None:
        new = self._extractor.push(pcm48)
        if len(new):
            self._mels = np.concatenate([self._mels, new])

    async def push(self, pcm48: np.ndarray, phonemes: Sequence[Timed] = ()) -> FrameParams:
        """The network listens to the audio only; `phonemes` are accepted for the interface and ignored."""
        self._add_features(pcm48)
        last_mel = self._first_mel + len(self._mels) - 1
        ready_until = (last_mel - self._future - MELS_PER_VIDEO_FRAME // 2) // MELS_PER_VIDEO_FRAME  # last ready frame
        first = self._next_frame
        count = max(0, ready_until - first + 1)
        if count == 0:
            return FrameParams(first, np.zeros((0, N_PARAMS), dtype=np.float32))
        windows = frame_windows(self._mels, count, self._window)
        # Advance before awaiting: a frame is handed out once even if another push runs meanwhile.
        self._next_frame = first + count
        keep_from = centre_mel(self._next_frame) - PAST
        self._mels = self._mels[keep_from - self._first_mel :]
        self._first_mel = keep_from
        return FrameParams(first, await self._batcher.infer(windows))


class NetworkFaceEngine(FaceEngine):
    """One per process; every stream shares its batcher and backend."""

    name = "network"

    def __init__(self, backend: InferenceBackend, on_batch: BatchHook | None = None, note: str | None = None):
        self.backend = backend.name
        self.device = backend.device
        self.note = note  # why this backend was chosen over a faster one, for the log and /healthz
        self._backend = backend
        self.batcher = InferenceBatcher(backend, on_batch)

    def open_stream(self) -> FaceStream:
        return NetworkFaceStream(self.batcher, self._backend.window)

    def describe(self) -> dict[str, str | None]:
        return {"driver": self.name, "backend": self.backend, "device": self.device, "note": self.note}

    async def close(self) -> None:
        await asyncio.to_thread(self.batcher.close)
        self._backend.close()
