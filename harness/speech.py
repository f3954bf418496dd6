"""A piper utterance to feed to the avatar as an agent framework's TTS would (synthesized once per process), and where
the speech lies in audio."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from engines.resample import resample
from engines.timebase import TIMELINE_RATE
from engines.tts.registry import build_engine

SENTENCE = "Hello there! I am the avatar, and I speak whatever your agent says."


@lru_cache(maxsize=4)
def piper_utterance(text: str = SENTENCE) -> tuple[np.ndarray, int]:
    """int16 mono audio of `text` in piper's joe voice, at piper's own rate (22.05 kHz), and that rate."""
    speech = build_engine("piper").synthesize(text)
    return speech.pcm, speech.sample_rate


def piper_utterance_48k(text: str = SENTENCE) -> np.ndarray:
    pcm, rate = piper_utterance(text)
    return resample(pcm, rate, TIMELINE_RATE)


def chunks(pcm: np.ndarray, samples: int) -> list[np.ndarray]:
    return [pcm[i : i + samples] for i in range(0, len(pcm), samples)]


def speech_bounds(pcm: np.ndarray, level: int = 500) -> tuple[int, int]:
    """First and last sample louder than `level`."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > level)
    return int(loud[0]), int(loud[-1])
