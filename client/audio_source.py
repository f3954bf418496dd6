"""Audio sources for voice mode: any recording or synthesized speech, played into WebRTC in real time.

A voice-mode session mirrors what the client sends as it arrives, so a source must be paced like a microphone:
one 20 ms frame every 20 ms. `ArrayAudioTrack` plays a numpy array that way (from a file with `from_file`) and
records when each frame went out, so a program can measure the delay of what comes back. `LiveAudioTrack` plays
audio handed over while it runs (an agent's TTS), and can drop what it has not sent yet.
"""
from __future__ import annotations

import asyncio
import fractions
from collections import deque
from pathlib import Path

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from engines.audio_file import read_audio

FRAME_S = 0.02


class _PacedAudioTrack(MediaStreamTrack):
    """Mono int16 audio handed to WebRTC one 20 ms frame every 20 ms, like a microphone."""

    kind = "audio"

    def __init__(self, sample_rate: int) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self._frame_samples = round(sample_rate * FRAME_S)
        self._time_base = fractions.Fraction(1, sample_rate)
        self._index = 0
        self._sent: list[float] = []  # event-loop time at which each frame was handed out

    @property
    def started_at(self) -> float | None:
        """Event-loop time at which the first frame was handed to WebRTC."""
        return self._sent[0] if self._sent else None

    def _next_due(self) -> float:
        """Event-loop time at which the next frame goes out."""
        loop = asyncio.get_running_loop()
        origin = self._sent[0] if self._sent else loop.time()
        return max(loop.time(), origin + self._index * FRAME_S)

    def _ended(self) -> bool:
        """Whether the track has nothing more to send."""
        return False

    def _next_chunk(self) -> np.ndarray:
        """The next frame's samples; fewer are padded with silence."""
        raise NotImplementedError

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._ended():
            self.stop()
            raise MediaStreamError
        await asyncio.sleep(self._next_due() - asyncio.get_running_loop().time())
        part = self._next_chunk()
        chunk = np.zeros(self._frame_samples, dtype=np.int16)
        chunk[: len(part)] = part
        frame = av.AudioFrame(format="s16", layout="mono", samples=self._frame_samples)
        frame.planes[0].update(chunk.tobytes())
        frame.sample_rate = self.sample_rate
        frame.pts = self._index * self._frame_samples
        frame.time_base = self._time_base
        self._index += 1
        self._sent.append(asyncio.get_running_loop().time())
        return frame


class ArrayAudioTrack(_PacedAudioTrack):
    """A recording played in real time. When it is over the track sends silence (`then="silence"`, like a
    microphone in a quiet room) or ends (`then="end"`, like a client that hangs up its microphone)."""

    def __init__(self, pcm: np.ndarray, sample_rate: int, then: str = "silence") -> None:
        super().__init__(sample_rate)
        if then not in ("silence", "end"):
            raise ValueError(f"then must be 'silence' or 'end', not {then!r}")
        self.pcm = np.asarray(pcm, dtype=np.int16).reshape(-1)
        self._then = then

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

    def sent_at(self, sample: int) -> float:
        """Event-loop time at which the frame holding `sample` of the array was handed to WebRTC."""
        return self._sent[sample // self._frame_samples]

    def _ended(self) -> bool:
        return self.finished and self._then == "end"

    def _next_chunk(self) -> np.ndarray:
        start = self._index * self._frame_samples
        return self.pcm[start : start + self._frame_samples]


class LiveAudioTrack(_PacedAudioTrack):
    """Audio handed over as it is made (an agent's TTS, faster than real time or not), played in real time;
    silence while none is waiting."""

    def __init__(self, sample_rate: int = 48_000) -> None:
        super().__init__(sample_rate)
        self._queue: deque[np.ndarray] = deque()
        self._queued = 0

    @property
    def queued_samples(self) -> int:
        return self._queued

    def push(self, pcm: np.ndarray) -> None:
        """Append int16 mono audio at the track's rate."""
        pcm = np.asarray(pcm, dtype=np.int16).reshape(-1)
        if len(pcm):
            self._queue.append(pcm)
            self._queued += len(pcm)

    def clear(self) -> None:
        """Drop everything not yet sent."""
        self._queue.clear()
        self._queued = 0

    def sent_by(self) -> float:
        """Event-loop time by which everything pushed so far will have been handed to WebRTC."""
        frames = -(-self._queued // self._frame_samples)
        return self._next_due() + frames * FRAME_S

    def _next_chunk(self) -> np.ndarray:
        parts, need = [], self._frame_samples
        while need and self._queue:
            head = self._queue[0]
            parts.append(head[:need])
            if len(head) <= need:
                self._queue.popleft()
            else:
                self._queue[0] = head[need:]
            need -= len(parts[-1])
        taken = self._frame_samples - need
        self._queued -= taken
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

