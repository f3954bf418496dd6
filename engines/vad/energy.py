"""An energy detector of voice activity: loudness against the stream's own noise floor.

It judges 10 ms frames by loudness relative to the stream's own noise floor (the quietest recent
stretch), not by an absolute level, so a hissing microphone is not "speaking" and a quiet one is still heard;
the zero-crossing rate lets unvoiced sounds (s, f, sh), which are quiet but hiss, count at a lower margin.
A few voiced frames in a row open speech (a click does not); a hangover bridges the pauses between words.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from engines.timebase import TIMELINE_RATE
from engines.vad.base import RunsDetector, Transition

FRAME_SAMPLES = TIMELINE_RATE // 100  # 10 ms
# Loudness above the noise floor that makes a frame voiced, and the lower margin for hissing (high zero-crossing)
# frames; no frame quieter than MIN_SPEECH_DB is speech, whatever the floor.
VOICED_MARGIN_DB = 10.0
HISS_MARGIN_DB = 6.0
HISS_ZCR = 0.3
MIN_SPEECH_DB = -50.0
SILENCE_DB = -100.0  # digital silence, instead of minus infinity
# The floor is the quietest (lightly smoothed) frame of the last FLOOR_WINDOW frames: speech always has quieter
# moments within that time, so the floor follows the background, up or down, within FLOOR_WINDOW.
FLOOR_WINDOW = 150  # 1.5 s
ONSET_FRAMES = 3
HANGOVER_FRAMES = 30  # 300 ms


class EnergyVad(RunsDetector):
    def __init__(self) -> None:
        super().__init__(ONSET_FRAMES, HANGOVER_FRAMES)
        self._pending = np.zeros(0, dtype=np.int16)
        self._position = 0  # timeline sample of the first pending sample
        self._levels: deque[float] = deque(maxlen=FLOOR_WINDOW)
        self._recent: deque[float] = deque(maxlen=3)

    @property
    def floor_db(self) -> float:
        return min(self._levels) if self._levels else SILENCE_DB

    def is_quiet(self, pcm: np.ndarray) -> bool:
        level, _ = _level_and_zcr(pcm)
        return level < max(MIN_SPEECH_DB, self.floor_db + HISS_MARGIN_DB)

    def push(self, start: int, pcm: np.ndarray) -> list[Transition]:
        transitions: list[Transition] = []
        expected = self._position + len(self._pending)
        if start > expected:
            self._pending = np.zeros(0, dtype=np.int16)
            transitions += self._silence(start - expected)
            self._position = start
        elif start < expected:  # overlaps audio already judged: only the new part counts
            pcm = pcm[expected - start :]
        self._pending = np.concatenate([self._pending, pcm.astype(np.int16, copy=False)])
        count = len(self._pending) // FRAME_SAMPLES
        for frame in self._pending[: count * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES):
            transition = self._judge(self._voiced(*_level_and_zcr(frame)))
            self._position += FRAME_SAMPLES
            if transition:
                transitions.append(transition)
        self._pending = self._pending[count * FRAME_SAMPLES :]
        return transitions

    def _silence(self, samples: int) -> list[Transition]:
        transitions = []
        for _ in range(samples // FRAME_SAMPLES):
            self._observe(SILENCE_DB)
            transition = self._judge(False)
            self._position += FRAME_SAMPLES
            if transition:
                transitions.append(transition)
        return transitions

    def _observe(self, level_db: float) -> None:
        self._recent.append(level_db)
        self._levels.append(float(np.mean(self._recent)))

    def _voiced(self, level_db: float, zcr: float) -> bool:
        floor = self.floor_db  # judged against the floor before this frame joins it
        self._observe(level_db)
        if level_db < MIN_SPEECH_DB:
            return False
        return level_db > floor + (HISS_MARGIN_DB if zcr > HISS_ZCR else VOICED_MARGIN_DB)

    def _judge(self, voiced: bool) -> Transition | None:
        return self._runs.judge(voiced, self._position, self._position + FRAME_SAMPLES)


def _level_and_zcr(frame: np.ndarray) -> tuple[float, float]:
    """Loudness in dB full scale, and the fraction of neighbouring samples that change sign."""
    samples = frame.astype(np.float64)
    rms = float(np.sqrt(np.mean(samples**2)))
    level = 20.0 * float(np.log10(rms / 32768.0)) if rms > 0 else SILENCE_DB
    zcr = float(np.mean(np.signbit(samples[1:]) != np.signbit(samples[:-1])))
    return level, zcr
