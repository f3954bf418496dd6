"""The one phoneme alphabet of the project: espeak-ng's IPA, plus "_" for a pause.

Engines hand out phonemes in this alphabet and the viseme table reads it, so the rules for what is a phoneme
symbol, a modifier of the previous symbol, a stress mark or punctuation live here, once.
"""
from __future__ import annotations

import unicodedata

PAUSE = "_"
STRESS_MARKS = frozenset("ˈˌ")
# Symbols that change the preceding phoneme rather than start a new one (length, aspiration, r-colouring, tones).
_MODIFIERS = frozenset("ːˑʰʲʷˠˤ˞̃˥˦˧˨˩")
_TONE_DIGITS = frozenset("012345")


def is_modifier(symbol: str) -> bool:
    """True for a symbol that belongs to the phoneme before it."""
    return symbol in _MODIFIERS or unicodedata.combining(symbol) != 0


def is_phoneme_start(symbol: str) -> bool:
    """True for a symbol that begins a new phoneme (a letter of the IPA)."""
    return unicodedata.category(symbol).startswith("L") and not is_modifier(symbol) and symbol not in STRESS_MARKS


def strip_prosody(phoneme: str) -> str:
    """The phoneme without stress marks, tone letters or tone digits: what the mouth shape depends on."""
    return "".join(c for c in phoneme if c not in STRESS_MARKS and c not in _TONE_DIGITS and c not in "˥˦˧˨˩")
