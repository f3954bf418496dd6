"""The voice-activity interface: 48 kHz timeline audio in, speech on/off transitions out.

A live voice comes with no timings, so voice mode's speech_started / speech_ended and the face's rest in silence
follow a detector. Each implementation is one module plus one line in `registry.py`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Transition:
    """Speech started (`speaking` True, at its first voiced sample) or ended (False, where silence was confirmed:
    `last_voiced` after the last voiced sample plus the hangover)."""

    speaking: bool
    sample: int
    last_voiced: int


class SpeechRuns:
    """Speech on and off from a detector's frame-by-frame verdicts: `onset` voiced frames in a row open speech
    (at the first of them), `hangover` unvoiced frames in a row close it, so clicks do not open it and the pauses
    between words do not close it."""

    def __init__(self, onset: int, hangover: int) -> None:
        self._onset, self._hangover = onset, hangover
        self._run = 0  # voiced frames in a row (while silent) or unvoiced frames in a row (while speaking)
        self._run_start = 0
        self.speaking = False
        self.last_voiced = 0

    def judge(self, voiced: bool, start: int, end: int) -> Transition | None:
        """The verdict on the frame of timeline samples [start, end); a transition when speech starts or ends."""
        if voiced:
            self.last_voiced = end
        if self.speaking == voiced:
            self._run = 0
            return None
        if self._run == 0:
            self._run_start = start
        self._run += 1
        if not self.speaking and self._run >= self._onset:
            self.speaking, self._run = True, 0
            return Transition(True, self._run_start, self.last_voiced)
        if self.speaking and self._run >= self._hangover:
            self.speaking, self._run = False, 0
            return Transition(False, end, self.last_voiced)
        return None


class VoiceActivityDetector(ABC):
    """One per session. `speaking` and `last_voiced` describe the audio pushed so far."""

    speaking: bool
    last_voiced: int  # timeline sample just after the last voiced audio

    @abstractmethod
    def push(self, start: int, pcm: np.ndarray) -> list[Transition]:
        """Judge int16 48 kHz audio placed at timeline sample `start`; a hole since the last push counts as
        silence, and audio overlapping what was judged already counts once."""

    @abstractmethod
    def is_quiet(self, pcm: np.ndarray) -> bool:
        """Whether `pcm` is no louder than the background as the detector knows it now (pcm itself not judged)."""


class RunsDetector(VoiceActivityDetector, ABC):
    """A detector that judges audio frame by frame and leaves onset and hangover to SpeechRuns."""

    def __init__(self, onset: int, hangover: int) -> None:
        self._runs = SpeechRuns(onset, hangover)

    @property
    def speaking(self) -> bool:
        return self._runs.speaking

    @property
    def last_voiced(self) -> int:
        return self._runs.last_voiced
