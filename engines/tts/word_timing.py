"""Word timings for engines that give audio only (Coqui models, speech services): an estimate, not an alignment.

Each written word's size is its phoneme count from espeak-ng's phonemizer (its letter count where espeak-ng has no
voice for the language). The words are spread over the voiced stretches of the audio (10 ms frames above an energy
floor, gaps shorter than a stop closure bridged) in proportion to those sizes, and word boundaries are drawn to the
pauses between stretches where they fit (`place_words`, as for piper). Captions come from this; the mouth never does
(the face network follows the audio itself).

Streamed audio gets its words as it comes: after each piece, the words whose estimated end (their phonemes at the
voice's measured speaking rate) lies within the voiced audio so far are given out; the rest are placed over the
remaining audio when the phrase ends. Each finished phrase updates the voice's speaking rate.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from engines.tts.base import Timed
from engines.tts.espeak_lib import espeak_library
from engines.tts.ipa import is_phoneme_start
from engines.tts.words import SpokenWord, place_words, text_words

_FRAME_S = 0.01
_FLOOR_DBFS = -50.0  # frames quieter than this are silence, however quiet the voice
_RANGE_DB = 35.0  # ... and so are frames this far below the loudest frame so far
_BRIDGED_GAP_S = 0.08  # silences shorter than this (stop closures) stay inside a stretch
# Phonemes per second of voiced audio (diphthongs count two): fluent English, until a voice's own rate is measured.
_DEFAULT_PHONEMES_PER_S = 14.0
_RATE_WEIGHT = 0.3  # how much one finished phrase moves a voice's measured rate
# espeak-ng names some languages differently from the language codes models use.
_ESPEAK_NAMES = {"zh": "cmn", "zh-cn": "cmn", "zh-tw": "cmn", "ja": "ja", "pt-br": "pt-br"}


@lru_cache(maxsize=64)
def espeak_voice(language: str) -> str | None:
    """The espeak-ng voice for a language code ("en", "en-us", "zh-cn"), or None when espeak-ng has none."""
    library = espeak_library()
    code = language.lower().replace("_", "-")
    for name in dict.fromkeys([_ESPEAK_NAMES.get(code, code), code, code.split("-")[0]]):
        if library.has_voice(name):
            return name
    return None


def word_sizes(words: list[str], language: str) -> list[int]:
    """Each word's phoneme count as espeak-ng says it alone (letters where it has no voice for `language`)."""
    voice = espeak_voice(language)
    library = espeak_library()
    sizes = []
    for word in words:
        ipa = library.phonemize(word, voice) if voice is not None else ""
        count = sum(is_phoneme_start(symbol) for symbol in ipa) or sum(character.isalnum() for character in word)
        sizes.append(max(count, 1))
    return sizes


def voiced_stretches(pcm: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """(start s, end s) of the stretches of `pcm` (int16) with voice in them."""
    frame = max(int(sample_rate * _FRAME_S), 1)
    count = len(pcm) // frame
    if count == 0:
        return []
    frames = pcm[: count * frame].astype(np.float64).reshape(count, frame) / 32768.0
    level = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    voiced = level > max(_FLOOR_DBFS, level.max() - _RANGE_DB)
    stretches: list[tuple[float, float]] = []
    for index in np.flatnonzero(voiced):
        start, end = index * frame / sample_rate, (index + 1) * frame / sample_rate
        if stretches and start - stretches[-1][1] < _BRIDGED_GAP_S:
            stretches[-1] = (stretches[-1][0], end)
        else:
            stretches.append((start, end))
    return stretches


def _spoken(stretches: list[tuple[float, float]], phonemes: int) -> list[SpokenWord]:
    """The stretches as spoken units sharing `phonemes` in proportion to their length (largest remainders)."""
    lengths = np.array([end - start for start, end in stretches])
    shares = lengths / lengths.sum() * phonemes
    sizes = np.floor(shares).astype(int)
    for index in np.argsort(sizes - shares)[: phonemes - int(sizes.sum())]:
        sizes[index] += 1
    return [SpokenWord(start, end, int(size)) for (start, end), size in zip(stretches, sizes) if size > 0]


def estimate_words(words: list[str], sizes: list[int], stretches: list[tuple[float, float]]) -> list[Timed]:
    """`words` (with their sizes) over the voiced `stretches`, in seconds; no words where nothing is voiced."""
    if not words or not stretches:
        return []
    return place_words(words, sizes, _spoken(stretches, max(sum(sizes), len(stretches))))


class SpeakingRates:
    """Phonemes per second of voiced audio, measured per voice over the phrases it has spoken; shared by the
    threads that speak with one engine."""

    def __init__(self) -> None:
        self._rates: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, voice: str) -> float:
        with self._lock:
            return self._rates.get(voice, _DEFAULT_PHONEMES_PER_S)

    def update(self, voice: str, phonemes: int, voiced_s: float) -> None:
        if voiced_s < 0.3:  # too little audio to say anything about the rate
            return
        with self._lock:
            old = self._rates.get(voice, _DEFAULT_PHONEMES_PER_S)
            self._rates[voice] = (1 - _RATE_WEIGHT) * old + _RATE_WEIGHT * phonemes / voiced_s


@dataclass
class PhraseWords:
    """The word timings of one phrase while its audio arrives: `add` each piece, then `finish`."""

    text: str
    voice: str
    language: str
    sample_rate: int
    rates: SpeakingRates
    _words: list[str] = field(init=False)
    _sizes: list[int] = field(init=False)
    _pieces: list[np.ndarray] = field(init=False, default_factory=list)
    _samples: int = field(init=False, default=0)
    _given: int = field(init=False, default=0)
    _given_end: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._words = text_words(self.text)
        self._sizes = word_sizes(self._words, self.language)

    def add(self, pcm: np.ndarray, words_spoken: int | None = None) -> list[Timed]:
        """The words known once `pcm` (the next piece) is in, timed from its first sample. `words_spoken`: how many
        of the phrase's words the audio so far holds, where the engine knows (a piece per sentence); otherwise the
        speaking rate tells, and the last word waits for `finish`, since nothing else says where it ends."""
        piece_start = self._samples / self.sample_rate
        self._pieces.append(pcm)
        self._samples += len(pcm)
        stretches = voiced_stretches(np.concatenate(self._pieces), self.sample_rate)
        begin = self._given_end
        if words_spoken is not None:  # this piece holds those words alone
            known, until, begin = min(words_spoken, len(self._words)), self._samples / self.sample_rate, piece_start
        else:
            voiced = sum(end - start for start, end in stretches)
            ends = np.cumsum(self._sizes) / self.rates.get(self.voice)
            known = self._given
            while known < len(self._words) - 1 and ends[known] <= voiced:
                known += 1
            until = _at(stretches, ends[known - 1]) if known else 0.0
        if known <= self._given:
            return []
        span = _clip(stretches, max(begin, self._given_end), until)
        new = estimate_words(self._words[self._given : known], self._sizes[self._given : known], span)
        if not new:
            return []
        self._given, self._given_end = known, new[-1].end
        return [_shifted(word, -piece_start) for word in new]

    def finish(self) -> list[Timed]:
        """The words not given out yet, over the audio after the last one given, timed from the end of the audio
        (so they start before it), and the voice's speaking rate updated with the whole phrase."""
        end = self._samples / self.sample_rate
        stretches = voiced_stretches(np.concatenate(self._pieces), self.sample_rate) if self._pieces else []
        self.rates.update(self.voice, sum(self._sizes), sum(stop - start for start, stop in stretches))
        span = _clip(stretches, self._given_end, end)
        rest = estimate_words(self._words[self._given :], self._sizes[self._given :], span)
        self._given = len(self._words)
        return [_shifted(word, -end) for word in rest]

    def all(self, pcm: np.ndarray) -> list[Timed]:
        """Every word of a phrase whose audio is `pcm`, timed from its first sample (the whole-phrase estimate)."""
        self._pieces, self._samples = [pcm], len(pcm)
        return [_shifted(word, self._samples / self.sample_rate) for word in self.finish()]


def _at(stretches: list[tuple[float, float]], voiced_time: float) -> float:
    """The time in the audio at which `voiced_time` seconds of voice have passed."""
    elapsed = 0.0
    for start, end in stretches:
        if elapsed + (end - start) >= voiced_time:
            return start + (voiced_time - elapsed)
        elapsed += end - start
    return stretches[-1][1] if stretches else 0.0


def _clip(stretches: list[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    return [(max(a, start), min(b, end)) for a, b in stretches if min(b, end) > max(a, start)]


def _shifted(word: Timed, offset: float) -> Timed:
    return Timed(word.text, float(word.start + offset), float(word.end + offset))
