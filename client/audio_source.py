"""Audio sources for voice mode: any recording or synthesized speech, played into WebRTC in real time.

A voice-mode session mirrors what the client sends as it arrives, so a source must be paced like a microphone:
one 20 ms frame every 20 ms. `ArrayAudioTrack` plays a numpy array that way (from a file with `from_file`) and
records when each frame went out, so a program can measure the delay of what comes back.
"""
from __future__ import annotations

import asyncio
import fractions
from pathlib import Path

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from engines.audio_file import read_audio

FRAME_S = 0.02


class ArrayAudioTrack(MediaStreamTrack):
    """Mono int16 audio played in real time. When it is over the track sends silence (`then="silence"`, like a
    microphone in a quiet room) or ends (`then="end"`, like a client that hangs up its microphone)."""

    kind = "audio"

    def __init__(self, pcm: np.ndarray, sample_rate: int, then: str = "silence") -> None:
        super().__init__()
        if then not in ("silence", "end"):
            raise ValueError(f"then must be 'silence' or 'end', not {then!r}")
        self.pcm = np.asarray(pcm, dtype=np.int16).reshape(-1)
        self.sample_rate = sample_rate
        self._then = then
        self._frame_samples = round(sample_rate * FRAME_S)
        self._time_base = fractions.Fraction(1, sample_rate)
        self._index = 0
        self._sent: list[float] = []  # event-loop time at which each frame was handed out

    @classmethod
    def from_file(cls, path: str | Path, then: str = "silence") -> ArrayAudioTrack:
        """A WAV, MP3 or any other file FFmpeg reads, as mono 48 kHz."""
        pcm, rate = read_audio(path)
        return cls(pcm, rate, then)

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate

    @property
    def finished(self) -> bool:
        return self._index * self._frame_samples >= len(self.pcm)

    @property
    def started_at(self) -> float | None:
        """Event-loop time at which the first frame was handed to WebRTC."""
        return self._sent[0] if self._sent else None

    def sent_at(self, sample: int) -> float:
        """Event-loop time at which the frame holding `sample` of the array was handed to WebRTC."""
        return self._sent[sample // self._frame_samples]

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self.finished and self._then == "end":
            self.stop()
            raise MediaStreamError
        origin = self._sent[0] if self._sent else loop.time()
        due = origin + self._index * FRAME_S
        await asyncio.sleep(max(0.0, due - loop.time()))
        start = self._index * self._frame_samples
        chunk = np.zeros(self._frame_samples, dtype=np.int16)
        part = self.pcm[start : start + self._frame_samples]
        chunk[: len(part)] = part
        frame = av.AudioFrame(format="s16", layout="mono", samples=self._frame_samples)
        frame.planes[0].update(chunk.tobytes())
        frame.sample_rate = self.sample_rate
        frame.pts = start
        frame.time_base = self._time_base
        self._index += 1
        self._sent.append(loop.time())
        return frame

