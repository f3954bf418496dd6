"""Phonemes to mouth-parameter curves: a viseme table and coarticulation by dominance functions.

Each phoneme has a target mouth shape and a dominance: how strongly, and over how much time around it, it pulls
the mouth towards that shape (after Cohen & Massaro's coarticulation model). The mouth at time t is the
dominance-weighted mean of the targets of the phonemes around t, so neighbours blend smoothly and weak consonants
(h, k, g) take the shape of the vowels beside them. Blending alone never quite reaches a target, so the
articulations the eye checks (lips shut for m, b, p; lower lip tucked for f, v; rounding for u, w) also lay a
smooth envelope over their parameter that reaches the target inside the phoneme and ramps over a few tens of
milliseconds around its edges; the curve is the larger of the two. Pauses pull towards rest, and a faint rest
dominance everywhere relaxes the mouth before and after speech. These curves drive the phoneme face driver and
are the training targets of the audio-to-face network, so they are smooth by construction.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engines.timebase import MOUTH_PARAMS, N_PARAMS, REST
from engines.tts.base import Timed
from engines.tts.ipa import PAUSE, is_modifier, strip_prosody


@dataclass(frozen=True)
class Viseme:
    """Target mouth shape (one value per MOUTH_PARAMS entry), how strongly it pulls (`weight`), for how long
    past its phoneme's plateau (`reach`, seconds) and which parameters it must reach (`critical`, names)."""

    shape: tuple[float, ...]
    weight: float
    reach: float
    critical: tuple[str, ...] = ()


def _shape(**values: float) -> tuple[float, ...]:
    """A shape by parameter name; parameters not named are 0."""
    unknown = set(values) - set(MOUTH_PARAMS)
    if unknown:
        raise ValueError(f"not mouth parameters: {sorted(unknown)}")
    return tuple(values.get(name, 0.0) for name in MOUTH_PARAMS)


def _vowel(jaw: float, spread: float = 0.0, round_: float = 0.0) -> Viseme:
    return Viseme(_shape(jaw_open=jaw, lip_spread=spread, lip_round=round_), weight=1.0, reach=0.05)


def _consonant(jaw: float, spread: float = 0.0, round_: float = 0.0, weight: float = 0.6) -> Viseme:
    return Viseme(_shape(jaw_open=jaw, lip_spread=spread, lip_round=round_), weight=weight, reach=0.035)


def _rounded_vowel(jaw: float, round_: float) -> Viseme:
    return Viseme(_shape(jaw_open=jaw, lip_round=round_), weight=1.2, reach=0.05, critical=("lip_round",))


_BILABIAL = Viseme(_shape(jaw_open=0.05, lip_spread=0.1, lip_close=1.0), weight=1.5, reach=0.02, critical=("lip_close",))
_LABIODENTAL = Viseme(_shape(jaw_open=0.12, lip_spread=0.15, lip_tuck=1.0), weight=1.5, reach=0.02, critical=("lip_tuck",))
_LABIAL_GLIDE = Viseme(_shape(jaw_open=0.1, lip_round=0.9), weight=1.5, reach=0.035, critical=("lip_round",))
_POSTALVEOLAR = _consonant(0.12, 0.05, 0.55, weight=1.0)  # ʃ ʒ tʃ: lips pushed out
_ALVEOLAR = _consonant(0.18, 0.3)
_SIBILANT = _consonant(0.08, 0.45, weight=0.8)  # s z: teeth nearly closed
_VELAR = _consonant(0.3, 0.15, weight=0.2)  # k g ŋ h: shaped by the vowels around them
_SILENCE = Viseme(tuple(REST.tolist()), weight=1.5, reach=0.05)
NEUTRAL = _consonant(0.3, 0.2, 0.1, weight=0.5)  # for anything the table does not know

_TABLE: dict[str, Viseme] = {
    PAUSE: _SILENCE,
    # Open vowels
    **dict.fromkeys(["a", "ɑ", "æ", "ɐ", "ɶ"], _vowel(0.85, 0.25)),
    "ʌ": _vowel(0.6, 0.2),
    "ɒ": _vowel(0.7, 0.0, 0.45),
    "ɔ": _vowel(0.6, 0.0, 0.6),
    # Mid vowels
    **dict.fromkeys(["ɛ", "e", "œ"], _vowel(0.5, 0.55)),
    **dict.fromkeys(["ə", "ɜ", "ɚ", "ɝ", "ɘ", "ɵ", "ᵻ"], _vowel(0.38, 0.2)),
    "ɤ": _vowel(0.4, 0.25),
    "o": _vowel(0.45, 0.0, 0.75),
    "ø": _vowel(0.35, 0.0, 0.7),
    # Close vowels
    "i": _vowel(0.15, 0.9),
    **dict.fromkeys(["ɪ", "ɨ", "ɯ"], _vowel(0.2, 0.7)),
    "ʊ": _vowel(0.22, 0.0, 0.7),
    **dict.fromkeys(["u", "ʉ"], _rounded_vowel(0.12, 0.95)),
    **dict.fromkeys(["y", "ʏ"], _rounded_vowel(0.12, 0.85)),
    # Lips
    **dict.fromkeys(["p", "b", "m", "ɓ", "ʙ"], _BILABIAL),
    **dict.fromkeys(["f", "v", "ɱ", "ⱱ", "ɸ", "β"], _LABIODENTAL),
    **dict.fromkeys(["w", "ʍ", "ɥ"], _LABIAL_GLIDE),
    # Tongue and teeth
    **dict.fromkeys(["θ", "ð"], _consonant(0.15, 0.3)),
    **dict.fromkeys(["s", "z", "ts", "dz", "ʦ"], _SIBILANT),
    **dict.fromkeys(["ʃ", "ʒ", "tʃ", "dʒ", "ʂ", "ʐ", "tʂ", "dʐ", "ɕ", "ʑ", "tɕ", "dʑ"], _POSTALVEOLAR),
    **dict.fromkeys(["t", "d", "n", "l", "ɾ", "ɫ", "ɬ", "ʈ", "ɖ", "ɳ", "ɭ", "ɲ", "c", "ɟ", "ʎ"], _ALVEOLAR),
    **dict.fromkeys(["ɹ", "r", "ɻ", "ʁ", "ʀ"], _consonant(0.2, 0.05, 0.4)),
    "j": _consonant(0.15, 0.6),
    **dict.fromkeys(["k", "g", "ɡ", "ŋ", "x", "ɣ", "χ", "q", "h", "ɦ", "ʔ", "ç"], _VELAR),
}
_LONGEST_KEY = max(len(key) for key in _TABLE)
_FIRST_UNIT_WEIGHT = 1.5  # in a cluster like "aɪ" or "ɔːɹ" the first sound is the longest


def viseme(phoneme: str) -> Viseme:
    """The viseme of one phoneme symbol in espeak IPA; NEUTRAL for anything unknown."""
    return _TABLE.get(_base(phoneme), NEUTRAL)


def _base(phoneme: str) -> str:
    """The phoneme without prosody and modifiers (length, aspiration, nasalisation...)."""
    decomposed = unicodedata.normalize("NFD", strip_prosody(phoneme))
    return "".join(symbol for symbol in decomposed if not is_modifier(symbol))


def _units(base: str) -> list[str]:
    """A phoneme split into the table's symbols, longest match first ("tʃ" stays whole, "aɪ" -> "a", "ɪ");
    symbols the table does not know are dropped, and a phoneme made only of those stays whole (-> NEUTRAL)."""
    units, index = [], 0
    while index < len(base):
        for length in range(min(_LONGEST_KEY, len(base) - index), 0, -1):
            if base[index : index + length] in _TABLE:
                units.append(base[index : index + length])
                index += length
                break
        else:
            index += 1
    return units or [base]


def _segments(phonemes: Sequence[Timed]) -> list[tuple[Viseme, float, float]]:
    """Each phoneme as (viseme, start, end); a cluster the table lacks as a whole (a diphthong "aɪ", an
    r-coloured "ɔːɹ", Mandarin finals "iou", "uo") is split in time across its sounds, because the mouth
    glides through them."""
    segments = []
    for phoneme in phonemes:
        units = _units(_base(phoneme.text))
        weights = np.array([_FIRST_UNIT_WEIGHT] + [1.0] * (len(units) - 1))
        edges = phoneme.start + np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * (phoneme.end - phoneme.start)
        segments.extend((_TABLE.get(unit, NEUTRAL), float(a), float(b)) for unit, a, b in zip(units, edges[:-1], edges[1:]))
    return segments


_PLATEAU = 0.35  # half-width of a phoneme's full-strength plateau, as a fraction of its duration
_REST_WEIGHT = 1e-3
_ENVELOPE_RAMP = 0.025  # seconds over which a critical envelope rises or falls, centred on the phoneme's edge
# A critical articulation holds its target at least this long, so that video at 25 fps (one sample per 40 ms)
# always shows it; the lips do close early in real speech, in the silent closure before the sound.
_MIN_HOLD = 0.04


def mouth_curves(phonemes: Sequence[Timed], times_s: np.ndarray) -> np.ndarray:
    """Mouth parameters (len(times_s) x N_PARAMS, float32, in [0, 1]) at `times_s` for timed phonemes."""
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    segments = _segments(phonemes)
    if not segments:
        return np.repeat(REST[None, :], len(times), axis=0)
    visemes = [segment for segment, _, _ in segments]
    starts = np.array([start for _, start, _ in segments])
    ends = np.maximum(np.array([end for _, _, end in segments]), starts)
    curves = _blend(visemes, starts, ends, times)
    return np.clip(np.maximum(curves, _envelopes(visemes, starts, ends, times)), 0.0, 1.0).astype(np.float32)


def _blend(visemes: list[Viseme], starts: np.ndarray, ends: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Dominance-weighted mean of the targets (T x N)."""
    targets = np.array([viseme.shape for viseme in visemes])  # (P, N)
    weights = np.array([viseme.weight for viseme in visemes])  # (P,)
    reach = np.array([viseme.reach for viseme in visemes])
    centres, half_plateaus = (starts + ends) / 2, (ends - starts) * _PLATEAU
    outside = np.maximum(np.abs(times[:, None] - centres[None, :]) - half_plateaus[None, :], 0.0) / reach[None, :]
    dominance = np.exp(-(outside**2)) * weights[None, :]  # (T, P)
    numerator = dominance @ targets + _REST_WEIGHT * REST
    return numerator / (dominance.sum(axis=1, keepdims=True) + _REST_WEIGHT)


def _envelopes(visemes: list[Viseme], starts: np.ndarray, ends: np.ndarray, times: np.ndarray) -> np.ndarray:
    """For each critical parameter, the largest of its phonemes' envelopes (T x N; zero elsewhere)."""
    result = np.zeros((len(times), N_PARAMS))
    for viseme, start, end in zip(visemes, starts, ends):
        if not viseme.critical:
            continue
        hold = max((end - start) / 2 - _ENVELOPE_RAMP, _MIN_HOLD / 2)
        envelope = _smoothstep((hold + 2 * _ENVELOPE_RAMP - np.abs(times - (start + end) / 2)) / (2 * _ENVELOPE_RAMP))
        for name in viseme.critical:
            param = MOUTH_PARAMS.index(name)
            result[:, param] = np.maximum(result[:, param], viseme.shape[param] * envelope)
    return result


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)
