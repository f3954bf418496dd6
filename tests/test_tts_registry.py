"""The voice registry with real engines: ids, defaults, bare names, errors, sharing between threads."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from engines.tts.base import UnknownVoice
from engines.tts.registry import VoiceRegistry


@pytest.fixture(scope="module")
def registry() -> VoiceRegistry:
    return VoiceRegistry(["piper", "espeak"], default="piper")


def test_lists_every_voice_with_its_engine(registry: VoiceRegistry) -> None:
    voices = registry.voices()
    assert voices[0] == "piper:joe"
    assert {"espeak:en-us", "espeak:en-gb", "espeak:cmn"} <= set(voices)
    assert registry.default_voice_id == "piper:joe"


@pytest.mark.parametrize(
    ("voice_id", "engine", "voice"),
    [
        (None, "piper", "joe"),
        ("piper:joe", "piper", "joe"),
        ("joe", "piper", "joe"),
        ("espeak:cmn", "espeak", "cmn"),
        ("espeak", "espeak", "en-us"),
    ],
)
def test_resolves_ids_bare_names_and_engine_names(registry: VoiceRegistry, voice_id, engine, voice) -> None:
    resolved_engine, resolved_voice = registry.resolve(voice_id)
    assert (resolved_engine.name, resolved_voice) == (engine, voice)


@pytest.mark.parametrize("voice_id", ["nobody", "piper:cmn", "espeak:joe", "coqui:joe", "cmn", ""])
def test_unknown_voice_lists_the_valid_ids(registry: VoiceRegistry, voice_id: str) -> None:
    with pytest.raises(UnknownVoice) as error:
        registry.resolve(voice_id)
    assert repr(voice_id) in str(error.value) and "piper:joe" in str(error.value) and "espeak:cmn" in str(error.value)


def test_default_can_be_another_engines_voice() -> None:
    registry = VoiceRegistry(["espeak"], default="espeak:en-gb")
    assert registry.default_voice_id == "espeak:en-gb"
    assert registry.resolve("cmn")[1] == "cmn"
    with pytest.raises(UnknownVoice, match="piper"):
        VoiceRegistry(["espeak"], default="piper")
    with pytest.raises(UnknownVoice, match="no TTS engine 'festival'"):
        VoiceRegistry(["festival"])


def test_sessions_share_engines_from_worker_threads(registry: VoiceRegistry) -> None:
    requests = ["piper:joe", "espeak:en-us", "espeak:cmn", "piper:joe"] * 2
    texts = {"piper:joe": "Good morning.", "espeak:en-us": "Good morning.", "espeak:cmn": "早上好"}

    def speak(voice_id: str):
        engine, voice = registry.resolve(voice_id)
        return engine.synthesize(texts[voice_id], voice)

    with ThreadPoolExecutor(max_workers=4) as pool:
        speeches = list(pool.map(speak, requests))
    for voice_id, speech in zip(requests, speeches):
        assert speech.duration > 0.3 and speech.words
        assert speech.sample_rate == 22050
