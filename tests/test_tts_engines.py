"""Both TTS engines, with real synthesis: timings, words, energy, options, voices, concurrency."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from engines.tts.base import Speech, SynthesisOptions, TTSEngine, UnknownVoice
from engines.tts.espeak_engine import EspeakEngine
from engines.tts.ipa import PAUSE
from engines.tts.piper_engine import PiperEngine
from engines.tts.words import text_words

ENGLISH = "Mom bought five apples. Then, we walked home!"
MANDARIN = "你好，世界。我们走吧"


@pytest.fixture(scope="module")
def piper() -> PiperEngine:
    return PiperEngine()


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    return EspeakEngine()


@pytest.fixture(params=["piper:joe", "espeak:en-us", "espeak:en-gb+f2", "espeak:cmn"])
def case(request, piper: PiperEngine, espeak: EspeakEngine) -> tuple[TTSEngine, str, str]:
    engine_name, voice = request.param.split(":")
    engine = piper if engine_name == "piper" else espeak
    return engine, voice, MANDARIN if voice == "cmn" else ENGLISH


def _rms(speech: Speech, start: float, end: float) -> float:
    chunk = speech.pcm[int(start * speech.sample_rate) : int(end * speech.sample_rate)].astype(np.float64)
    return float(np.sqrt(np.mean(chunk**2))) if len(chunk) else 0.0


def _assert_timeline_whole(speech: Speech) -> None:
    """Phonemes back to back from the first sample to the last; words in order, not overlapping."""
    phonemes = speech.phonemes
    if phonemes:
        assert phonemes[0].start == 0.0
        assert phonemes[-1].end == pytest.approx(speech.duration, abs=1e-6)
    for before, after in zip(phonemes, phonemes[1:]):
        assert before.start < before.end == pytest.approx(after.start, abs=1e-9)
    for before, after in zip(speech.words, speech.words[1:]):
        assert before.start < before.end <= after.start + 1e-9
    assert all(0.0 <= w.start and w.end <= speech.duration + 1e-9 for w in speech.words)


def test_phonemes_cover_the_audio_in_order(case) -> None:
    engine, voice, text = case
    speech = engine.synthesize(text, voice)
    assert speech.pcm.dtype == np.int16 and speech.duration > 1.0
    _assert_timeline_whole(speech)
    spoken = [p.text for p in speech.phonemes if p.text != PAUSE]
    assert len(spoken) >= 15
    assert all(p.text.strip() and not p.text.startswith("ˈ") for p in speech.phonemes)


@pytest.mark.parametrize("text", ["", " ", "...", "a", "😀", "Dr. Smith lives at 221B Baker St.", "x [[[☃]]] y"])
def test_odd_text_keeps_the_timeline_whole(case, text: str) -> None:
    engine, voice, _ = case
    speech = engine.synthesize(text, voice)
    _assert_timeline_whole(speech)
    assert [w.text for w in speech.words] == text_words(text)


def test_words_are_the_texts_words_in_order_with_energy(case) -> None:
    engine, voice, text = case
    speech = engine.synthesize(text, voice)
    words = speech.words
    if voice == "cmn":
        assert "".join(w.text for w in words) == "你好世界我们走吧"
    else:
        assert [w.text for w in words] == text_words(text)
    loudness = np.median([_rms(speech, w.start, w.end) for w in words])
    assert loudness > 1000
    assert all(_rms(speech, w.start, w.end) > 0.2 * loudness for w in words)
    pauses = [p for p in speech.phonemes if p.text == PAUSE and p.end - p.start > 0.1]
    assert pauses and all(_rms(speech, p.start + 0.03, p.end - 0.03) < 0.2 * loudness for p in pauses)


def test_rate_changes_duration(case) -> None:
    engine, voice, text = case
    steady = SynthesisOptions(variability=0.0)
    normal = engine.synthesize(text, voice, options=steady)
    fast = engine.synthesize(text, voice, options=SynthesisOptions(rate=2.0, variability=0.0))
    slow = engine.synthesize(text, voice, options=SynthesisOptions(rate=0.6, variability=0.0))
    assert fast.duration < 0.75 * normal.duration and slow.duration > 1.3 * normal.duration
    for speech in (fast, slow):
        _assert_timeline_whole(speech)


def _dominant_period(speech: Speech) -> float:
    """Median autocorrelation pitch period (s) over the loudest 40 ms windows: a crude but robust F0."""
    rate, window = speech.sample_rate, int(0.04 * speech.sample_rate)
    audio = speech.pcm.astype(np.float64)
    starts = range(0, len(audio) - window, window)
    loud = sorted(starts, key=lambda s: -np.sum(audio[s : s + window] ** 2))[:10]
    periods = []
    for start in loud:
        frame = audio[start : start + window]
        corr = np.correlate(frame, frame, "full")[window - 1 :]
        low, high = int(rate / 400), int(rate / 60)
        periods.append((low + int(np.argmax(corr[low:high]))) / rate)
    return float(np.median(periods))


def test_pitch_changes_pitch_not_duration(case) -> None:
    engine, voice, text = case
    normal = engine.synthesize(text, voice, options=SynthesisOptions(variability=0.0))
    high = engine.synthesize(text, voice, options=SynthesisOptions(pitch=1.5, variability=0.0))
    assert high.duration == pytest.approx(normal.duration, rel=0.15)
    _assert_timeline_whole(high)
    assert _dominant_period(high) < 0.9 * _dominant_period(normal)


def test_unknown_voice_is_rejected(case) -> None:
    engine, _, text = case
    with pytest.raises(UnknownVoice, match="no voice 'nobody'"):
        engine.synthesize(text, "nobody")


def test_concurrent_synthesis_matches_sequential(case) -> None:
    engine, voice, text = case
    texts = [text, "Quick brown foxes jump." if voice != "cmn" else "谢谢你"]
    options = SynthesisOptions(variability=0.0)
    sequential = [engine.synthesize(t, voice, options=options) for t in texts]
    results: dict[int, Speech] = {}

    def speak(index: int) -> None:
        for _ in range(3):
            results[index] = engine.synthesize(texts[index], voice, options=options)

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, expected in enumerate(sequential):
        _assert_same_speech(results[index], expected)


def _assert_same_speech(actual: Speech, expected: Speech) -> None:
    """Same phonemes and words at the same times, within half a video frame. Not sample-exact: espeak's wave
    generator carries some state from one call to the next, so repeated calls in one thread differ by a few
    samples inside the phrase and by up to about 11 ms of final silence."""
    tolerance = 0.02
    assert abs(actual.duration - expected.duration) < tolerance
    for got, want in zip(actual.phonemes + actual.words, expected.phonemes + expected.words, strict=True):
        assert got.text == want.text
        assert abs(got.start - want.start) < tolerance and abs(got.end - want.end) < tolerance


def test_espeak_offers_english_variants_and_mandarin(espeak: EspeakEngine) -> None:
    assert {"en-us", "en-gb", "en-us+f3", "en-us+m3", "cmn"} <= set(espeak.voices())
    assert espeak.default_voice == "en-us"
    female = espeak.synthesize("Hello there, how are you?", "en-us+f3")
    male = espeak.synthesize("Hello there, how are you?", "en-us+m3")
    assert _dominant_period(female) < 0.8 * _dominant_period(male)
    british = [p.text for p in espeak.synthesize("tomato", "en-gb").phonemes]
    american = [p.text for p in espeak.synthesize("tomato", "en-us").phonemes]
    assert british != american
