"""The part shared by engines whose model or service gives audio only (Coqui models, speech services).

They know no phoneme timings, so their `Speech` has none: the face network drives the mouth from the audio. Their
words come from the estimate in `word_timing` (phoneme counts from espeak-ng spread over the voiced audio). An
engine supplies its audio as pieces; whole phrases and streams are made from them here, the same way for both.
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import closing
from typing import NamedTuple

import numpy as np

from engines.tts.base import Speech, SynthesisOptions, TTSEngine
from engines.tts.word_timing import PhraseWords, SpeakingRates


class Piece(NamedTuple):
    """Audio as an engine makes it. `words_spoken`: how many of the phrase's words the audio up to the end of this
    piece holds, where the engine knows (it speaks sentence by sentence); None leaves it to the speaking rate."""

    pcm: np.ndarray  # int16, mono
    sample_rate: int
    words_spoken: int | None = None


class AudioOnlyEngine(TTSEngine):
    """Subclasses implement `audio` and set `_voices`, `_default` and `language` (the espeak-ng language that
    sizes the words)."""

    language: str = "en-us"
    _voices: list[str]
    _default: str

    def __init__(self) -> None:
        self._rates = SpeakingRates()

    def voices(self) -> list[str]:
        return list(self._voices)

    @property
    def default_voice(self) -> str:
        return self._default

    @abstractmethod
    def audio(self, text: str, voice: str, options: SynthesisOptions | None) -> Iterator[Piece]:
        """The phrase's audio as it is made, in pieces at one sample rate. `voice` is already resolved; closing
        the iterator stops the synthesis."""

    def synthesize(self, text: str, voice: str | None = None, *, options: SynthesisOptions | None = None) -> Speech:
        voice = self.resolve_voice(voice)
        pieces, rate = [], 0
        with closing(self.audio(text, voice, options)) as audio:
            for piece in audio:
                pieces.append(piece.pcm)
                rate = piece.sample_rate
        pcm = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
        return Speech(pcm, rate, [], self._words(text, voice, rate).all(pcm) if len(pcm) else [])

    def stream(self, text: str, voice: str | None = None, *, options: SynthesisOptions | None = None) -> Iterator[Speech]:
        voice = self.resolve_voice(voice)
        words: PhraseWords | None = None
        with closing(self.audio(text, voice, options)) as audio:
            for piece in audio:
                words = words or self._words(text, voice, piece.sample_rate)
                if len(piece.pcm):
                    yield Speech(piece.pcm, piece.sample_rate, [], words.add(piece.pcm, piece.words_spoken))
        rest = words.finish() if words is not None else []
        if rest:
            yield Speech(np.zeros(0, dtype=np.int16), words.sample_rate, [], rest)

    def _words(self, text: str, voice: str, rate: int) -> PhraseWords:
        return PhraseWords(text, voice, self.language, rate, self._rates)
