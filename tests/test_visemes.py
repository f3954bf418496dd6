"""The viseme table and its coarticulated curves: the shapes the eye checks, smoothness, robustness."""
from __future__ import annotations

import numpy as np
import pytest

from engines.face.visemes import NEUTRAL, mouth_curves, viseme
from engines.timebase import MOUTH_PARAMS, N_PARAMS
from engines.tts.base import Timed
from engines.tts.espeak_engine import EspeakEngine
from engines.tts.piper_engine import PiperEngine

JAW, SPREAD, ROUND, CLOSE, TUCK = range(N_PARAMS)


def _utterance(spec: str, duration: float = 0.08) -> list[Timed]:
    """Space-separated phonemes of `duration` each (or "p:0.03" for a given one), between two long pauses."""
    phonemes, time = [Timed("_", 0.0, 0.3)], 0.3
    for item in spec.split():
        name, _, length = item.partition(":")
        span = float(length) if length else duration
        phonemes.append(Timed(name, time, time + span))
        time += span
    phonemes.append(Timed("_", time, time + 0.4))
    return phonemes


def _at_centre(phonemes: list[Timed], index: int) -> np.ndarray:
    phoneme = phonemes[index]
    return mouth_curves(phonemes, np.array([(phoneme.start + phoneme.end) / 2]))[0]


def test_parameter_order_matches_the_face_interface() -> None:
    assert MOUTH_PARAMS.index("lip_close") == CLOSE and MOUTH_PARAMS.index("lip_tuck") == TUCK


@pytest.mark.parametrize("consonant", ["m", "b", "p"])
def test_bilabials_close_the_lips_fully(consonant: str) -> None:
    phonemes = _utterance(f"ɑ {consonant} ɑ")
    mouth = _at_centre(phonemes, 2)
    assert mouth[CLOSE] > 0.97 and mouth[JAW] < 0.3
    assert _at_centre(phonemes, 1)[CLOSE] < 0.2 and _at_centre(phonemes, 3)[CLOSE] < 0.2


@pytest.mark.parametrize("phase", np.linspace(0.0, 0.04, 5))
def test_short_closure_shows_in_a_25fps_frame_whatever_the_phase(phase: float) -> None:
    phonemes = _utterance("ɑ m:0.025 ɑ")
    frames = mouth_curves(phonemes, np.arange(phase, 1.0, 0.04))
    assert frames[:, CLOSE].max() > 0.9


def test_open_vowel_opens_the_jaw_more_than_close_vowels() -> None:
    jaw = {vowel: _at_centre(_utterance(f"{vowel}:0.15"), 1)[JAW] for vowel in ["a", "ɑː", "i", "u", "ə"]}
    assert jaw["a"] > 0.8 and jaw["ɑː"] > 0.8
    assert jaw["a"] > jaw["ə"] > jaw["i"] and jaw["ə"] > jaw["u"]


def test_rounded_and_spread_vowels() -> None:
    u = _at_centre(_utterance("uː:0.15"), 1)
    i = _at_centre(_utterance("i:0.15"), 1)
    assert u[ROUND] > 0.9 and u[SPREAD] < 0.1
    assert i[SPREAD] > 0.8 and i[ROUND] < 0.1


@pytest.mark.parametrize("consonant", ["f", "v"])
def test_labiodentals_tuck_the_lower_lip(consonant: str) -> None:
    mouth = _at_centre(_utterance(f"ɑ {consonant} ɑ"), 2)
    assert mouth[TUCK] > 0.97 and mouth[CLOSE] < 0.05


def test_silence_relaxes_to_rest() -> None:
    phonemes = _utterance("h ɛ l oʊ") + [Timed("_", 1.02, 1.6), Timed("a", 1.6, 1.7), Timed("_", 1.7, 2.2)]
    rest = mouth_curves(phonemes, np.array([0.0, 0.1, 1.3, 2.1, 5.0]))
    assert np.abs(rest).max() < 0.02
    assert np.abs(mouth_curves([], np.array([0.0, 1.0]))).max() == 0.0


def test_weak_consonants_take_the_shape_of_their_vowel() -> None:
    before_u = _at_centre(_utterance("h uː:0.15"), 1)
    before_i = _at_centre(_utterance("h i:0.15"), 1)
    assert before_u[ROUND] > 0.3 and before_i[ROUND] < 0.05
    assert before_i[SPREAD] > before_u[SPREAD] + 0.2


def test_diphthongs_glide_between_their_vowels() -> None:
    phonemes = _utterance("aɪ:0.25")
    early, late = mouth_curves(phonemes, np.array([0.36, 0.53]))
    assert early[JAW] > late[JAW] + 0.3 and late[SPREAD] > early[SPREAD] + 0.3


@pytest.mark.parametrize("name", ["☃", "?", "Q̃x", "ˈ", "tʂʰ", "ɑu", "ˈonɡ", "ts.h"])
def test_any_symbol_gives_a_shape(name: str) -> None:
    curves = mouth_curves(_utterance(f"a {name} a"), np.linspace(0, 1, 50))
    assert curves.shape == (50, N_PARAMS) and np.isfinite(curves).all()


def test_unknown_symbols_are_neutral_mid_shapes() -> None:
    assert viseme("☃") is NEUTRAL
    assert 0.2 <= NEUTRAL.shape[JAW] <= 0.5 and NEUTRAL.shape[CLOSE] == NEUTRAL.shape[TUCK] == 0.0


@pytest.fixture(scope="module", params=["piper", "espeak-cmn"])
def real_speech(request):
    if request.param == "piper":
        return PiperEngine().synthesize("Maybe we should fly home before five, Bob.")
    return EspeakEngine().synthesize("我们明天去北京，好不好？", "cmn")


def test_curves_of_real_speech_are_bounded_and_smooth(real_speech) -> None:
    times = np.arange(0.0, real_speech.duration, 0.01)
    curves = mouth_curves(real_speech.phonemes, times)
    assert curves.dtype == np.float32 and curves.shape == (len(times), N_PARAMS)
    assert curves.min() >= 0.0 and curves.max() <= 1.0
    assert np.abs(np.diff(curves, axis=0)).max() < 0.35  # per 10 ms: no jumps
    assert curves[:, JAW].std() > 0.1 and curves[:, CLOSE].max() > 0.95
