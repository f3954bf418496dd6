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
