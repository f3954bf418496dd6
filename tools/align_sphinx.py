"""Forced alignment of speech to its text with PocketSphinx and the US English model that ships in its wheel.

English (`align`): the words of the text are looked up in the CMU dictionary (numbers and keypad symbols spelled
out first); a text with a word the dictionary lacks is not aligned. Other languages (`align_phonemes`): espeak-ng's
phonemes of the text, spelled with the nearest English phones, are the pronunciation (tools/check_alignment.py
measures this against timings known exactly, and against DTW to espeak-ng's audio, which it beats). The decoder places optional silences between words; silence
before the first and after the last phone is cut back to where the audio's energy says speech starts and ends,
because the aligner stretches the edge phones over it.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
from pocketsphinx import Decoder

from engines.resample import resample
from engines.tts.base import Timed
from engines.tts.ipa import PAUSE, is_modifier, strip_prosody
from tools.align_common import FRAME_S, RATE, espeak_reference, speech_span
from tools.arpabet import from_ipa, to_ipa

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
# Mean acoustic score per 10 ms frame below which the recording is taken not to say its text. Measured on 51
# prompts of June's French set: correct texts -30 / -24 (quartile / median), another prompt's text -45 (median;
# half of those found no alignment at all). Formant-synthesized speech (espeak-ng) scores below it whatever it
# says: tools/check_alignment.py lifts the limit to measure timing alone.
MIN_FRAME_SCORE = -36
_SYMBOLS = {"*": " star ", "#": " pound ", "@": " at ", "&": " and ", "%": " percent "}


def number_words(n: int) -> str:
    """0 <= n < 1,000,000 in English words ("four thousand two hundred forty two")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))


def words_of(text: str) -> list[str]:
    """The text as dictionary words: lower case, digits and symbols spelled out, punctuation dropped."""
    for symbol, spoken in _SYMBOLS.items():
        text = text.replace(symbol, spoken)
    text = re.sub(r"(\d+)\.(\d+)", lambda m: f"{m[1]} point {' '.join(m[2])}", text)
    text = re.sub(r"\d+", lambda m: " " + number_words(int(m[0])) + " ", text)
    return re.findall(r"[a-z']+", text.lower().replace("-", " "))


@lru_cache(maxsize=1)
def decoder() -> Decoder:
    return Decoder(lm=None, loglevel="FATAL", samprate=RATE)


def _decode(pcm: np.ndarray, rate: int, words: list[str], min_score: float
            ) -> tuple[list[tuple[str, list[Timed]]], np.ndarray] | None:
    """Each aligned word (silences too) with its ARPAbet phones and their times, and the 16 kHz audio; None
    when the search fails or fits the audio worse than `min_score` per frame."""
    ps = decoder()
    pcm16k = resample(pcm, rate, RATE) if rate != RATE else pcm
    raw = pcm16k.astype(np.int16).tobytes()
    try:  # a first pass finds the words, a second their phones and states
        ps.set_align_text(" ".join(words))
        ps.start_utt()
        ps.process_raw(raw, full_utt=True)
        ps.end_utt()
        ps.set_alignment()
        ps.start_utt()
        ps.process_raw(raw, full_utt=True)
        ps.end_utt()
    except RuntimeError:  # the search ended without reaching the last word
        return None
    alignment = ps.get_alignment()
    if alignment is None:
        return None
    phones = [p for word in alignment for p in word]
    if sum(p.score for p in phones) / max(1, sum(p.duration for p in phones)) < min_score:
        return None
    spans = [(word.name, [Timed(p.name, p.start * FRAME_S, (p.start + p.duration) * FRAME_S) for p in word])
             for word in alignment]
    return spans, pcm16k


def align(pcm: np.ndarray, rate: int, text: str, min_score: float = MIN_FRAME_SCORE) -> list[Timed] | None:
    """English: IPA phones of the CMU dictionary's pronunciations, with times in seconds from the first sample,
    pauses included; None where a word is unknown or the decoder finds no alignment."""
    words = words_of(text)
    if not words or any(decoder().lookup_word(w) is None for w in words):
        return None
    decoded = _decode(pcm, rate, words, min_score)
    if decoded is None:
        return None
    spans, pcm16k = decoded
    phones = [Timed(to_ipa(p.text), p.start, p.end) for _, word in spans for p in word]
    return _trim_edges(phones, *speech_span(pcm16k), len(pcm16k) / RATE)


def align_phonemes(pcm: np.ndarray, rate: int, text: str, language: str,
                   min_score: float = MIN_FRAME_SCORE) -> list[Timed] | None:
    """Any language espeak-ng speaks: espeak's phonemes of the text, each spelled with the nearest English
    phones as a pronunciation of its own, placed by the English acoustic model. The result keeps espeak's IPA
    phonemes (a French "y" stays rounded), with the times of the English phones that spell them."""
    reference = espeak_reference(text, language)
    ps = decoder()
    names, spelled = [], []  # per word: its dictionary name; its espeak phonemes with their English phone counts
    for word in reference.words:
        parts = [(phoneme.text, from_ipa(_plain(phoneme.text))) for phoneme in word]
        parts = [(ipa, phones) for ipa, phones in parts if phones]
        if not parts:
            continue
        phones = [phone for _, word_phones in parts for phone in word_phones]
        names.append("_".join(phones))  # one dictionary word per pronunciation, shared by utterances
        spelled.append([(ipa, len(word_phones)) for ipa, word_phones in parts])
        if ps.lookup_word(names[-1]) is None:
            ps.add_word(names[-1], " ".join(p.upper() for p in phones), False)
    if not names:
        return None
    decoded = _decode(pcm, rate, names, min_score)
    if decoded is None:
        return None
    spans, pcm16k = decoded
    words = iter(spelled)
    phones = []
    for word, word_spans in spans:
        if not word_spans:
            continue
        if word.startswith(("<", "[", "+")):
            phones.append(Timed(PAUSE, word_spans[0].start, word_spans[-1].end))
            continue
        at = 0
        for ipa, count in next(words):
            phones.append(Timed(ipa, word_spans[at].start, word_spans[at + count - 1].end))
            at += count
    return _trim_edges(phones, *speech_span(pcm16k), len(pcm16k) / RATE)


def _plain(phoneme: str) -> str:
    """The phoneme without prosody and modifiers (length, palatalisation, nasalisation...)."""
    decomposed = unicodedata.normalize("NFD", strip_prosody(phoneme))
    return "".join(symbol for symbol in decomposed if not is_modifier(symbol))


def _trim_edges(phones: list[Timed], onset: float, offset: float, duration: float) -> list[Timed]:
    spoken = [i for i, p in enumerate(phones) if p.text != PAUSE]
    if not spoken:
        return []
    first, last = spoken[0], spoken[-1]
    body = list(phones[first : last + 1])
    body[0] = Timed(body[0].text, max(body[0].start, min(onset, body[0].end - FRAME_S)), body[0].end)
    body[-1] = Timed(body[-1].text, body[-1].start, min(body[-1].end, max(offset, body[-1].start + FRAME_S)))
    return [Timed(PAUSE, 0.0, body[0].start), *body, Timed(PAUSE, body[-1].end, duration)]
