"""Per-symbol durations (piper's alignments) to phonemes, pauses and word spans.

Piper's model sees espeak's IPA one code point at a time and gives each a number of samples, including stress
marks, length marks, the space between words, punctuation and the sentence's begin and end markers. Here those
become whole phonemes covering the audio without gaps: a modifier extends the phoneme before it, a stress mark
goes to the phoneme after it, the short space between two words of one breath stays with the word before, and
punctuation, sentence markers and spaces next to them become one pause.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engines.tts.base import Timed
from engines.tts.ipa import PAUSE, STRESS_MARKS, is_modifier, is_phoneme_start
from engines.tts.words import SpokenWord

WORD_BREAK = " "


@dataclass
class _Builder:
    phonemes: list[Timed] = field(default_factory=list)
    words: list[SpokenWord] = field(default_factory=list)
    stress: tuple[float, float] | None = None  # span of stress marks waiting for the phoneme they belong to
    in_word: bool = False

    def take_stress(self, start: float) -> float:
        """Where a new phoneme or pause starts: at the stress marks before it, if any."""
        begin = self.stress[0] if self.stress is not None else start
        self.stress = None
        return begin

    def add_pause(self, start: float, end: float) -> None:
        self.in_word = False
        last = self.phonemes[-1] if self.phonemes else None
        if last is not None and last.text == PAUSE:
            self.phonemes[-1] = Timed(PAUSE, last.start, end)
        else:
            self.phonemes.append(Timed(PAUSE, start, end))

    def extend_last(self, text: str, end: float) -> None:
        last = self.phonemes[-1]
        self.phonemes[-1] = Timed(text, last.start, end)
        if self.in_word:
            self.words[-1] = SpokenWord(self.words[-1].start, end, self.words[-1].size)

    def add_symbol(self, symbol: str, start: float, end: float) -> None:
        last = self.phonemes[-1] if self.phonemes else None
        if symbol in STRESS_MARKS:
            self.stress = (self.stress[0] if self.stress is not None else start, end)
        elif is_modifier(symbol) and self.in_word and last is not None:
            self.stress = None  # a stray stress mark before a modifier: its time stays with this phoneme
            self.extend_last(last.text + symbol, end)
        elif is_phoneme_start(symbol):
            start = self.take_stress(start)
            self.phonemes.append(Timed(symbol, start, end))
            if self.in_word:
                self.words[-1] = SpokenWord(self.words[-1].start, end, self.words[-1].size + 1)
            else:
                self.words.append(SpokenWord(start, end, 1))
                self.in_word = True
        elif symbol == WORD_BREAK and self.in_word and self.stress is None and last is not None:
            self.extend_last(last.text, end)
            self.in_word = False
        else:
            self.add_pause(self.take_stress(start), end)


def phonemes_from_symbols(symbols: Iterable[tuple[str, float, float]]) -> tuple[list[Timed], list[SpokenWord]]:
    """(symbol, start s, end s) in order -> (phonemes covering the whole span, the spoken words)."""
    builder = _Builder()
    for symbol, start, end in symbols:
        builder.add_symbol(symbol, start, end)
    if builder.stress is not None:
        builder.add_pause(*builder.stress)
    return builder.phonemes, builder.words
