"""A face engine that survives its own failure: when the primary stream (the audio-to-face network) raises, the
session goes on with the phoneme driver from the same timeline position instead of losing its mouth or its
session.

The wrapper keeps the recent pushes (audio and phonemes) that the primary has not turned into frames yet. On a
failure it starts the fallback stream where the oldest of those pushes began, replays them, and hands out only
the frames the primary never delivered, so the mouth schedule continues without a hole or a repeated frame.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engines.face.base import FaceEngine, FaceStream
from engines.face.phoneme_driver import PhonemeFaceEngine
from engines.timebase import N_PARAMS, SAMPLES_PER_FRAME, FrameParams, frame_center
from engines.tts.base import Timed

log = logging.getLogger(__name__)

FallbackHook = Callable[[str], None]  # called with the reason, once per stream that falls back


@dataclass(frozen=True)
class _Push:
    start: int  # timeline sample of pcm[0]
    pcm: np.ndarray
    phonemes: tuple[Timed, ...]

    @property
    def end(self) -> int:
        return self.start + len(self.pcm)


class FallbackFaceStream(FaceStream):
    def __init__(self, primary: FaceStream, open_fallback: Callable[[], FaceStream], on_fallback: FallbackHook) -> None:
        self._current = primary
        self._open_fallback = open_fallback
        self._on_fallback = on_fallback
        self.failed_reason: str | None = None
        self.reset(0)

    @property
    def lookahead_samples(self) -> int:
        return self._current.lookahead_samples

    def reset(self, start_sample: int) -> None:
        self._current.reset(start_sample)
        self._end = start_sample
        self._next_frame: int | None = None  # first frame not handed out yet; None: none handed out since reset
        self._pending: list[_Push] = []

    async def push(self, pcm48: np.ndarray, phonemes: Sequence[Timed] = ()) -> FrameParams:
        entry = _Push(self._end, pcm48, tuple(phonemes))
        self._end = entry.end
        if self.failed_reason is not None:
            return self._handed_out(await self._current.push(pcm48, phonemes))
        self._pending.append(entry)
        try:
            frames = await self._current.push(pcm48, phonemes)
        except Exception as exc:  # any failure of the primary engine costs its precision, never the session
            return self._handed_out(await self._switch(f"{type(exc).__name__}: {exc}"))
        return self._handed_out(frames)

    async def _switch(self, reason: str) -> FrameParams:
        """Start the fallback where the first undelivered push began and replay what the primary was given."""
        self.failed_reason = reason
        log.warning("face stream failed (%s); continuing with the phoneme driver", reason)
        self._on_fallback(reason)
        replay, self._pending = self._pending, []
        self._current = self._open_fallback()
        self._current.reset(replay[0].start)
        batches = [await self._current.push(p.pcm, p.phonemes) for p in replay]
        return _concatenate(batches)

    def _handed_out(self, frames: FrameParams) -> FrameParams:
        """`frames` without any the session already has; forgets pushes whose frames are all delivered."""
        if self._next_frame is not None and frames.first_frame < self._next_frame:
            skip = self._next_frame - frames.first_frame
            frames = FrameParams(frames.first_frame + skip, frames.params[skip:])
        if len(frames):
            self._next_frame = frames.first_frame + len(frames)
            delivered_until = frame_center(self._next_frame) - SAMPLES_PER_FRAME
            self._pending = [p for p in self._pending if p.end > delivered_until]
        return frames


def _concatenate(batches: list[FrameParams]) -> FrameParams:
    filled = [b for b in batches if len(b)]
    if not filled:
        first = batches[-1].first_frame if batches else 0
        return FrameParams(first, np.zeros((0, N_PARAMS), dtype=np.float32))
    return FrameParams(filled[0].first_frame, np.concatenate([b.params for b in filled]))


class FallbackFaceEngine(FaceEngine):
    """Presents itself as the primary engine (name, backend, note) for /healthz and logs."""

    def __init__(self, primary: FaceEngine, fallback: FaceEngine, on_fallback: FallbackHook | None = None) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self.backend = primary.backend
        self.note = getattr(primary, "note", None)
        self._on_fallback = on_fallback or (lambda reason: None)

    def open_stream(self) -> FallbackFaceStream:
        return FallbackFaceStream(self.primary.open_stream(), self.fallback.open_stream, self._on_fallback)

    async def close(self) -> None:
        await self.primary.close()
        await self.fallback.close()


def with_phoneme_fallback(engine: FaceEngine, on_fallback: FallbackHook | None = None) -> FaceEngine:
    """`engine` guarded by the phoneme driver; the phoneme driver itself needs no guard."""
    if isinstance(engine, PhonemeFaceEngine):
        return engine
    return FallbackFaceEngine(engine, PhonemeFaceEngine(), on_fallback)
