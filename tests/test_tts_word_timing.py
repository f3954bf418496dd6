"""The word-timing estimate of audio-only engines, checked against piper's own alignment-based words on the same
audio: whole phrases, streamed pieces, phoneme sizes from espeak-ng's phonemizer, silence and unknown languages."""
from __future__ import annotations

import numpy as np
import pytest

from engines.tts.espeak_lib import espeak_library
from engines.tts.piper_engine import PiperEngine
from engines.tts.word_timing import (
    PhraseWords,
    SpeakingRates,
    espeak_voice,
    voiced_stretches,
    word_sizes,
)

PHRASES = [
    "Mom bought five apples. Then, we walked home!",
    "The quick brown fox jumps over the lazy dog, and nobody saw it happen.",
    "It costs forty-two dollars, or so I heard.",
]


@pytest.fixture(scope="module")
def piper() -> PiperEngine:
    return PiperEngine()


def test_sizes_are_espeak_phoneme_counts() -> None:
    assert espeak_library().phonemize("strengths", "en-us") == "stɹˈɛŋθs"
    assert word_sizes(["strengths", "a", "forty-two"], "en-us") == [7, 2, 7]  # "a" alone is the letter: eɪ
    assert espeak_voice("en") == "en" and espeak_voice("zh-cn") == "cmn" and espeak_voice("tlh") is None
    assert word_sizes(["qapla"], "tlh") == [5]  # no espeak voice: letters


def test_voiced_stretches_find_the_sound() -> None:
    rate = 16000
    tone = (8000 * np.sin(2 * np.pi * 200 * np.arange(rate // 2) / rate)).astype(np.int16)
    gap = np.zeros(rate // 4, dtype=np.int16)
    stretches = voiced_stretches(np.concatenate([gap, tone, gap, tone]), rate)
    assert [(round(a, 2), round(b, 2)) for a, b in stretches] == [(0.25, 0.75), (1.0, 1.5)]
    assert voiced_stretches(np.zeros(rate, dtype=np.int16), rate) == []


@pytest.mark.parametrize("text", PHRASES)
def test_whole_phrase_estimate_is_close_to_the_alignment(piper: PiperEngine, text: str) -> None:
    speech = piper.synthesize(text)
    estimate = PhraseWords(text, "joe", "en-us", speech.sample_rate, SpeakingRates()).all(speech.pcm)
    assert [word.text for word in estimate] == [word.text for word in speech.words]
    errors = [abs(a.start - b.start) for a, b in zip(speech.words, estimate)]
    assert np.mean(errors) < 0.25 and max(errors) < 0.7  # seconds; piper varies its audio run to run


def test_streamed_words_arrive_with_their_pieces_in_order(piper: PiperEngine) -> None:
    rates = SpeakingRates()
    for text in PHRASES[:2]:  # the voice's rate, learned from a phrase spoken before
        speech = piper.synthesize(text)
        PhraseWords(text, "joe", "en-us", speech.sample_rate, rates).all(speech.pcm)
    text = PHRASES[2]
    speech = piper.synthesize(text)
    words = PhraseWords(text, "joe", "en-us", speech.sample_rate, rates)
    step, placed = speech.sample_rate // 5, []
    for start in range(0, len(speech.pcm), step):
        piece = speech.pcm[start : start + step]
        placed += [(word.text, start / speech.sample_rate + word.start) for word in words.add(piece)]
    early = len(placed)
    placed += [(word.text, len(speech.pcm) / speech.sample_rate + word.start) for word in words.finish()]
    assert [text for text, _ in placed] == [word.text for word in speech.words]
    assert 0 < early < len(placed)  # some words came before the audio ended, the last ones with its end
    errors = [abs(start - word.start) for (_, start), word in zip(placed, speech.words)]
    assert np.mean(errors) < 0.25


def test_no_words_without_voice() -> None:
    silence = np.zeros(16000, dtype=np.int16)
    assert PhraseWords("Hello there.", "v", "en-us", 16000, SpeakingRates()).all(silence) == []
    assert PhraseWords("...", "v", "en-us", 16000, SpeakingRates()).all(silence) == []
