"""Where a broadcast's audio and video sit in a stream that came back (pulled from an RTMP server, a recorded MP4),
against the frames the session's pipeline made, for the tests and the benchmarks.

For each track, the offset maps stream time to session time: the stream's audio at stream time t is the session's
audio at t + a (found by cross-correlating the samples), and its video frame at stream time t is the session's
frame at t + v (found by matching each decoded picture to the made ones). A viewer sees lips and hears voice in
step exactly when a == v; `v - a` is how late the audio plays against the video. The mouth is also read from
the decoded pictures and compared with the audio's loudness over time, knowing nothing of the session.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from engines.timebase import AUDIO_FRAME_SAMPLES, FPS, TIMELINE_RATE
from harness.measure import DARK_LUMA
from server.pipeline.session import SessionPipeline

MATCH_SIZE = (128, 128)  # pictures are compared at this size: enough to tell idle frames apart, and fast


def _small(luma: np.ndarray) -> np.ndarray:
    return cv2.resize(luma, MATCH_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


@dataclass
class Decoded:
    """A stream as it came back: its audio laid out by timestamps, its video frames with their times."""

    audio: np.ndarray  # int16 mono at TIMELINE_RATE
    audio_start: float  # stream time of audio[0]
    video: list[tuple[float, np.ndarray]]  # (stream time, luma)

    @property
    def video_times(self) -> np.ndarray:
        return np.array([t for t, _ in self.video])


def lay_out(chunks: list[tuple[float, np.ndarray]], rate: int = TIMELINE_RATE) -> tuple[np.ndarray, float]:
    """Audio chunks (stream time, int16 samples) as one track by their timestamps; gaps are silence."""
    start = chunks[0][0]
    end = max(t + len(pcm) / rate for t, pcm in chunks)
    out = np.zeros(int(round((end - start) * rate)), np.int16)
    for t, pcm in chunks:
        at = int(round((t - start) * rate))
        piece = pcm[: max(0, len(out) - at)]
        out[at : at + len(piece)] = piece
    return out, start


def decode_file(path: Path) -> Decoded:
    """Every frame of a recording, decoded."""
    chunks, video = [], []
    resampler = av.AudioResampler(format="s16", layout="mono", rate=TIMELINE_RATE)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks += [(float(f.pts * f.time_base), f.to_ndarray().reshape(-1)) for f in resampler.resample(frame)]
    with av.open(str(path)) as container:
        video = [(float(f.pts * f.time_base), f.to_ndarray(format="gray")) for f in container.decode(video=0)]
    audio, start = lay_out(chunks)
    return Decoded(audio, start, video)


@dataclass
class SourceFrames:
    """The frames a session's pipeline made while recording, by slot (in-process only)."""

    audio: dict[int, np.ndarray] = field(default_factory=dict)
    video: dict[int, np.ndarray] = field(default_factory=dict)  # small luma pictures

    @classmethod
    def record(cls, pipeline: SessionPipeline) -> tuple[SourceFrames, asyncio.Task]:
        """Start recording; cancel the task to stop."""
        source = cls()
        subscription = pipeline.subscribe()

        async def take_audio() -> None:
            while True:
                frame = await subscription.audio()
                source.audio[frame.index] = frame.pcm.copy()

        async def take_video() -> None:
            while True:
                frame = await subscription.video()
                source.video[frame.index] = _small(frame.yuv[: frame.height])

        async def take() -> None:
            try:
                await asyncio.gather(take_audio(), take_video())
            finally:
                subscription.close()

        return source, asyncio.create_task(take())

    def audio_track(self) -> tuple[np.ndarray, float]:
        """The session's audio over the recorded slots (frames this recorder missed are silence)."""
        first, last = min(self.audio), max(self.audio)
        out = np.zeros((last - first + 1) * AUDIO_FRAME_SAMPLES, np.int16)
        for index, pcm in self.audio.items():
            out[(index - first) * AUDIO_FRAME_SAMPLES : (index - first + 1) * AUDIO_FRAME_SAMPLES] = pcm
        return out, first * AUDIO_FRAME_SAMPLES / TIMELINE_RATE


def best_shift(a: np.ndarray, b: np.ndarray) -> int:
    """The shift s (either sign) at which a[i] matches b[i + s] best (cross-correlation over every overlap)."""
    size = 1 << (len(a) + len(b)).bit_length()
    xcorr = np.fft.irfft(np.fft.rfft(b.astype(np.float64), size) * np.conj(np.fft.rfft(a.astype(np.float64), size)), size)
    best = int(np.argmax(xcorr))
    return best if best < len(b) else best - size  # indices past the end hold the negative shifts


def audio_offset(decoded: Decoded, source: SourceFrames) -> float:
    """a: the session time of the stream's audio at stream time t is t + a (s)."""
    made, made_start = source.audio_track()
    shift = best_shift(decoded.audio, made)  # decoded.audio[i] is made[i + shift]
    return made_start + shift / TIMELINE_RATE - decoded.audio_start


def video_offset(decoded: Decoded, source: SourceFrames, every: int = 3) -> float:
    """v: the session time of the stream's frame at stream time t is t + v (s), the median over the frames
    matched (every `every`-th decoded frame to the made frame it is closest to)."""
    indices = np.array(sorted(source.video))
    made = np.stack([source.video[i] for i in indices])
    offsets = []
    for time, luma in decoded.video[::every]:
        errors = np.abs(made - _small(luma)).mean(axis=(1, 2))
        offsets.append(indices[int(np.argmin(errors))] / FPS - time)
    return float(np.median(offsets))


def mouth_openness(decoded: Decoded, box: tuple[int, int, int, int], pad: int = 6) -> np.ndarray:
    """Share of cavity-dark pixels in the mouth box of each decoded frame."""
    x0, y0, x1, y1 = box
    return np.array([float((luma[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad] < DARK_LUMA).mean())
                     for _, luma in decoded.video])


def loudness_at_frames(decoded: Decoded) -> np.ndarray:
    """RMS of the stream's audio over each video frame's 40 ms, by stream time."""
    window = TIMELINE_RATE // FPS
    levels = []
    for time in decoded.video_times:
        at = int(round((time - decoded.audio_start) * TIMELINE_RATE))
        piece = decoded.audio[max(0, at) : max(0, at + window)].astype(np.float64)
        levels.append(float(np.sqrt(np.mean(piece**2))) if len(piece) else 0.0)
    return np.array(levels)


def mouth_follows_audio(decoded: Decoded, box: tuple[int, int, int, int], max_lag: int = 6) -> tuple[int, float]:
    """The lag (in frames; positive: the mouth moves after the sound) at which mouth opening and loudness
    correlate best over the stream, and that correlation."""
    mouth, loud = mouth_openness(decoded, box), loudness_at_frames(decoded)
    best = (0, -1.0)
    for lag in range(-max_lag, max_lag + 1):
        a = loud[max(0, -lag) : len(loud) - max(0, lag)]
        b = mouth[max(0, lag) : len(mouth) - max(0, -lag)]
        if len(a) > 2 and a.std() > 0 and b.std() > 0:
            corr = float(np.corrcoef(a, b)[0, 1])
            if corr > best[1]:
                best = (lag, corr)
    return best
