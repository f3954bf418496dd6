"""ARPAbet phones (CMU dictionary, PocketSphinx, Festival's radio phone set) in the project's IPA alphabet, so that
engines/face/visemes.py turns their timings into mouth curves like any TTS engine's."""
from __future__ import annotations

from engines.tts.ipa import PAUSE

_IPA = {
    "aa": "ɑ", "ae": "æ", "ah": "ʌ", "ao": "ɔ", "aw": "aʊ", "ax": "ə", "axr": "ɚ", "ay": "aɪ", "b": "b",
    "ch": "tʃ", "d": "d", "dh": "ð", "eh": "ɛ", "el": "l", "em": "m", "en": "n", "er": "ɚ", "ey": "eɪ",
    "f": "f", "g": "ɡ", "hh": "h", "ih": "ɪ", "iy": "i", "jh": "dʒ", "k": "k", "l": "l", "m": "m", "n": "n",
    "ng": "ŋ", "ow": "oʊ", "oy": "ɔɪ", "p": "p", "r": "ɹ", "s": "s", "sh": "ʃ", "t": "t", "th": "θ",
    "uh": "ʊ", "uw": "u", "v": "v", "w": "w", "y": "j", "z": "z", "zh": "ʒ",
}
_SILENCE = {"sil", "pau", "h#", "+noise+", "+breath+", "[noise]"}


def to_ipa(phone: str) -> str:
    """One ARPAbet phone (any case, stress digits allowed) -> IPA; silence and noise -> PAUSE."""
    name = phone.strip().lower().rstrip("012")
    if name in _SILENCE or name.startswith("+"):
        return PAUSE
    if name not in _IPA:
        raise ValueError(f"not an ARPAbet phone: {phone!r}")
    return _IPA[name]


# espeak-ng IPA (any language, modifiers stripped) -> the nearest English phones, longest symbol first; for
# aligning other languages with the English acoustic model. Symbols missing here add no phone of their own.
_FROM_IPA = {
    "tʃ": "ch", "dʒ": "jh", "ts": "t s", "dz": "d z", "aɪ": "ay", "aʊ": "aw", "eɪ": "ey", "oʊ": "ow", "ɔɪ": "oy",
    "a": "aa", "ɑ": "aa", "æ": "ae", "ɐ": "ah", "ʌ": "ah", "ə": "ah", "ɜ": "er", "ɚ": "er", "e": "ey",
    "ɛ": "eh", "i": "iy", "ɪ": "ih", "ɨ": "ih", "o": "ow", "ɔ": "ao", "ɒ": "aa", "ɵ": "ow", "u": "uw",
    "ʊ": "uh", "y": "uw", "ʏ": "uh", "ø": "er", "œ": "er", "ɤ": "ah",
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g", "ɡ": "g", "f": "f", "v": "v", "s": "s",
    "z": "z", "ʃ": "sh", "ʒ": "zh", "ɕ": "sh", "ʑ": "zh", "θ": "th", "ð": "dh", "m": "m", "n": "n",
    "ɲ": "n y", "ŋ": "ng", "l": "l", "ɭ": "l", "ʎ": "l y", "r": "r", "ɾ": "r", "ɹ": "r", "ʁ": "r",
    "j": "y", "ʝ": "y", "w": "w", "ɥ": "w", "h": "hh", "x": "hh", "χ": "hh", "ç": "hh", "β": "b", "ɣ": "g",
}
_LONGEST = max(len(symbol) for symbol in _FROM_IPA)


def from_ipa(base: str) -> list[str]:
    """ARPAbet phones for an IPA phoneme without modifiers ("tʃ" -> ["ch"], "ɲ" -> ["n", "y"]); [] if none."""
    phones, index = [], 0
    while index < len(base):
        for length in range(min(_LONGEST, len(base) - index), 0, -1):
            if base[index : index + length] in _FROM_IPA:
                phones += _FROM_IPA[base[index : index + length]].split()
                index += length
                break
        else:
            index += 1
    return phones
