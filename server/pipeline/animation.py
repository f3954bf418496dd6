"""What the face does with a session's speech: the face stream moves the mouth and the gesture stream the head and
brows (engines/face/gestures.py), both fed the same timeline audio, in order, and scheduled on the session's media.
The speaker (text) and the voice mirror feed it alike, so the head moves the same for synthesized and live speech.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engines.face.base import FaceStream
from engines.face.gestures import GestureStream
from engines.timebase import AUDIO_FRAME_SAMPLES, FrameParams, frame_center
from engines.tts.base import Timed
from server.pipeline.media import SessionMedia


class Animation:
    def __init__(
        self, media: SessionMedia, face: FaceStream, gestures: GestureStream | None, max_gap_samples: int
    ) -> None:
        """`gestures` None: the mouth only (the renderer's idle motion moves the head). Silence up to
        `max_gap_samples` between two pieces of speech is fed to both streams as context (the network was trained
        on speech with pauses); after a longer one, or speech placed behind what was fed, they start afresh."""
        self._media = media
        self._face = face
        self._gestures = gestures
        self._max_gap = max_gap_samples
        self.end = 0  # timeline sample after the last one fed

    @property
    def lookahead_samples(self) -> int:
        """Audio past a frame's centre both streams need before that frame comes out."""
        return max(self._face.lookahead_samples, self._gestures.lookahead_samples if self._gestures else 0)

    def reset(self, start: int) -> None:
        """Continue at timeline sample `start`, forgetting the audio before it (a long pause, an interrupt)."""
        self._face.reset(start)
        if self._gestures is not None:
            self._gestures.reset(start)
        self.end = start

    async def feed(
        self,
        start: int,
        pcm: np.ndarray,
        phonemes: Sequence[Timed] = (),
        speaks: Callable[[int], bool] | None = None,
    ) -> None:
        """Speech placed at timeline sample `start` (phonemes in seconds from `start`), after the silence since
        what was fed last, or afresh after a long pause."""
        gap = start - self.end
        if gap < 0 or gap > self._max_gap:
            self.reset(start)
        elif gap:
            await self.push(np.zeros(gap, dtype=np.int16), speaks=speaks)
        await self.push(pcm, phonemes, speaks)

    async def push(self, pcm: np.ndarray, phonemes: Sequence[Timed] = (),
                   speaks: Callable[[int], bool] | None = None) -> None:
        """Feed audio at `end` (phonemes as FaceStream.push takes them) and schedule the frames it completes.
        `speaks(sample)`: whether the avatar speaks at that timeline sample (voice mode: the voice is active and
        not muted); elsewhere the mouth rests and the gestures hear silence."""
        start = self.end
        self.end += len(pcm)
        mouth = await self._face.push(pcm, phonemes)
        if speaks is None:
            self._media.mouth.add(mouth)
        else:
            for offset in range(len(mouth)):
                frame = mouth.first_frame + offset
                if speaks(frame_center(frame)):
                    self._media.mouth.add(FrameParams(frame, mouth.params[offset: offset + 1]))
        if self._gestures is not None:
            self._media.gestures.add(self._gestures.push(pcm if speaks is None else _gated(pcm, start, speaks)))

    async def flush(self) -> int:
        """Silence for the look-ahead, so the frames up to the current end come out (the speech is over).
        Returns the new end; later speech must not start before it."""
        await self.push(np.zeros(self.lookahead_samples, np.int16))
        return self.end


def _gated(pcm: np.ndarray, start: int, speaks: Callable[[int], bool]) -> np.ndarray:
    """The audio with silence wherever the avatar does not speak (judged per 20 ms block)."""
    out = pcm.copy()
    for offset in range(0, len(pcm), AUDIO_FRAME_SAMPLES):
        if not speaks(start + offset + AUDIO_FRAME_SAMPLES // 2):
            out[offset: offset + AUDIO_FRAME_SAMPLES] = 0
    return out
