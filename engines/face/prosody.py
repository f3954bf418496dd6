"""Per-video-frame prosody of timeline audio: loudness and voice pitch, computed as the audio streams in.

What a listener hears as stress and emphasis is mostly loudness and pitch: a stressed syllable is louder than its
neighbours, an emphasized word also rises in pitch. Both are measured on a 40 ms window centred on each video
frame's centre (timeline sample n*1920 + 960), so frame n's features depend only on the audio around it and come
out the same however the audio was cut into pushes. Pitch comes from the normalized autocorrelation of the audio
block-averaged to 8 kHz (Boersma's window-corrected autocorrelation), searched between 75 and 400 Hz: a few
hundred microseconds per second of audio.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.timebase import SAMPLES_PER_FRAME, TIMELINE_RATE, frame_center

HALF_WINDOW = SAMPLES_PER_FRAME // 2  # 20 ms either side of the frame centre
SILENCE_DB = -100.0
_BLOCK = 6  # 48 kHz -> 8 kHz by block averaging (pitch only needs the band below 1 kHz)
_RATE = TIMELINE_RATE // _BLOCK
_F0_RANGE = (75.0, 400.0)  # the window holds three periods of the lowest
_VOICED_CORRELATION = 0.5  # autocorrelation peak above which a frame counts as voiced
_VOICED_MIN_DB = -50.0
_N_FFT = 1024
_OCTAVE_SHARE = 0.85


@dataclass(frozen=True)
class Prosody:
    """Features of consecutive frames: loudness in dB full scale, pitch in semitones above 100 Hz (NaN unvoiced)."""

    first_frame: int
    loudness_db: np.ndarray
    pitch_st: np.ndarray


def first_frame_at(start_sample: int) -> int:
    """The first video frame whose centre is at or after `start_sample`."""
    return max(0, -(-(start_sample - HALF_WINDOW) // SAMPLES_PER_FRAME))


class StreamingProsody:
    """Timeline audio pushed in order; features of every frame whose window is complete. Audio before the
    starting sample counts as silence."""

    def __init__(self, start_sample: int = 0) -> None:
        self._next = first_frame_at(start_sample)
        self._buffer_start = start_sample  # timeline sample of self._buffer[0]
        self._buffer = np.zeros(0, np.float32)
        self._window = np.hanning(2 * HALF_WINDOW // _BLOCK).astype(np.float32)
        correlation = _autocorrelation(self._window)
        self._window_correlation = np.maximum(correlation / correlation[0], 1e-3)

    @property
    def next_frame(self) -> int:
        return self._next

    def push(self, pcm48: np.ndarray) -> Prosody:
        self._buffer = np.concatenate([self._buffer, np.asarray(pcm48, np.float32) / 32768.0])
        end = self._buffer_start + len(self._buffer)
        # Frame n's window [n*1920, (n+1)*1920) is complete once the audio reaches its end.
        last = end // SAMPLES_PER_FRAME - 1
        first = self._next
        count = max(0, last - first + 1)
        loudness = np.empty(count, np.float32)
        pitch = np.empty(count, np.float32)
        for i in range(count):
            window = self._samples(frame_center(first + i) - HALF_WINDOW)
            loudness[i], pitch[i] = self._features(window)
        self._next = first + count
        keep_from = frame_center(self._next) - HALF_WINDOW - self._buffer_start
        if keep_from > 0:
            self._buffer = self._buffer[keep_from:]
            self._buffer_start += keep_from
        return Prosody(first, loudness, pitch)

    def _samples(self, start: int) -> np.ndarray:
        """2 * HALF_WINDOW samples from timeline sample `start`; silence before the buffer's start."""
        offset = start - self._buffer_start
        if offset >= 0:
            return self._buffer[offset: offset + 2 * HALF_WINDOW]
        return np.concatenate([np.zeros(-offset, np.float32), self._buffer[: 2 * HALF_WINDOW + offset]])

    def _features(self, samples: np.ndarray) -> tuple[float, float]:
        power = float(np.mean(samples.astype(np.float64) ** 2))
        loudness = 10.0 * np.log10(power) if power > 1e-10 else SILENCE_DB
        if loudness < _VOICED_MIN_DB:
            return loudness, np.nan
        low = samples.reshape(-1, _BLOCK).mean(axis=1)
        low = (low - low.mean()) * self._window
        r = _autocorrelation(low)
        if r[0] <= 0:
            return loudness, np.nan
        r = r / r[0] / self._window_correlation
        lo, hi = int(_RATE / _F0_RANGE[1]), int(_RATE / _F0_RANGE[0])
        search = r[lo:hi + 1]
        # A periodic signal correlates as well at two periods as at one: take the shortest lag that comes close
        # to the best, or the pitch would drop an octave.
        peaks = np.flatnonzero((search[1:-1] >= search[:-2]) & (search[1:-1] > search[2:])) + 1
        if not len(peaks):
            return loudness, np.nan
        best = search[peaks].max()
        lag = lo + int(peaks[np.argmax(search[peaks] >= _OCTAVE_SHARE * best)])
        if r[lag] < _VOICED_CORRELATION:
            return loudness, np.nan
        a, b, c = r[lag - 1], r[lag], r[lag + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
        f0 = _RATE / (lag + shift)
        return loudness, float(12.0 * np.log2(f0 / 100.0))


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    spectrum = np.fft.rfft(x, _N_FFT)
    return np.fft.irfft(spectrum.real**2 + spectrum.imag**2, _N_FFT)[: len(x)]
