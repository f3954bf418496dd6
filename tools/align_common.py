"""What the aligners share: where speech starts and ends in a recording, and the text spoken by espeak-ng with
its phoneme and word timings (the phones the aligners place, in any language espeak speaks)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engines.resample import resample
from engines.tts.base import Timed
from engines.tts.espeak_engine import phoneme_spans
from engines.tts.espeak_lib import EVENT_WORD, EspeakLibrary, Prosody, espeak_library
from engines.tts.ipa import PAUSE

RATE = 16_000
FRAME_S = 0.01
ESPEAK_WPM = 175


@dataclass(frozen=True)
class Reference:
    """espeak-ng's rendering of a text: 16 kHz int16 audio, its phonemes, and the phonemes grouped in words."""

    pcm: np.ndarray
    phonemes: list[Timed]
    words: list[list[Timed]]


def speech_span(pcm16k: np.ndarray, threshold_db: float = -35.0) -> tuple[float, float]:
    """First and last 10 ms frame (seconds) within threshold_db of the loudest frame."""
    hop = int(RATE * FRAME_S)
    frames = pcm16k[: len(pcm16k) // hop * hop].astype(np.float64).reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1.0)
    loud = np.flatnonzero(level > level.max() + threshold_db)
    return float(loud[0] * FRAME_S), float((loud[-1] + 1) * FRAME_S)


@lru_cache(maxsize=1)
def _espeak() -> EspeakLibrary:
    """The library after one throwaway phrase: its first synthesis loses the first word's events."""
    library = espeak_library()
    library.synthesize("Ready.", "en-us", Prosody(ESPEAK_WPM, 50, 50))
    return library


def espeak_reference(text: str, language: str, rate: float = 1.0) -> Reference:
    library = _espeak()
    prosody = Prosody(rate_wpm=int(np.clip(round(ESPEAK_WPM * rate), 80, 450)), pitch=50, pitch_range=50)
    pcm, events = library.synthesize(text, language, prosody)
    phonemes = [p for p in phoneme_spans(events, len(pcm), library.sample_rate) if not p.text.startswith("(")]
    starts = [e.sample / library.sample_rate for e in events if e.kind == EVENT_WORD] + [float("inf")]
    words = [[p for p in phonemes if p.text != PAUSE and a <= p.start < b] for a, b in zip(starts, starts[1:])]
    return Reference(resample(pcm, library.sample_rate, RATE), phonemes, [w for w in words if w])
