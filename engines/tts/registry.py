"""The process's speech engines and the voice ids clients use to pick one.

A voice id is "engine:voice" ("piper:joe", "espeak:en-gb", "espeak:cmn"). A bare name is a voice of the default
engine ("joe") or, failing that, an engine's own default voice ("espeak"). Only the engines the configuration
names are built, once, when the registry is, so the first phrase of the first session does not pay for loading
models; the sessions of the process share them (the engines are safe to call from several worker threads at once).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from engines.plugins import Plugins
from engines.tts.base import EngineOptions, TTSEngine, UnknownVoice

log = logging.getLogger(__name__)

ENGINES = Plugins("TTS engine", {
    "piper": "engines.tts.piper_engine:PiperEngine",
    "espeak": "engines.tts.espeak_engine:EspeakEngine",
    "coqui": "engines.tts.coqui_engine:CoquiEngine",
    "openai": "engines.tts.openai_speech_engine:OpenAISpeechEngine",
})
SEPARATOR = ":"


def build_engine(name: str, options: EngineOptions | None = None) -> TTSEngine:
    """One engine by its registry name."""
    if name not in ENGINES:
        raise UnknownVoice(f"no TTS engine {name!r}; engines: {', '.join(ENGINES)}")
    return ENGINES.load(name)(options)


class VoiceRegistry:
    """The engines named in `engine_names` (each built with its entry of `options`, if any), and `default` (a
    voice id or an engine name) for when no voice is asked for."""

    def __init__(
        self, engine_names: Sequence[str], default: str = "piper", options: Mapping[str, EngineOptions] | None = None
    ) -> None:
        options = options or {}
        self._engines = {name: build_engine(name, options.get(name)) for name in dict.fromkeys(engine_names)}
        if not self._engines:
            raise ValueError("a voice registry needs at least one engine")
        default_engine = default.split(SEPARATOR, 1)[0]
        if default_engine not in self._engines:
            raise UnknownVoice(f"default voice {default!r} names an engine not loaded; engines: {', '.join(self._engines)}")
        self._default_engine = self._engines[default_engine]
        engine, voice = self._resolve_id(default)
        self.default_voice_id = f"{engine.name}{SEPARATOR}{voice}"
        log.info("voices: %s (default %s)", ", ".join(self.voices()), self.default_voice_id)

    def voices(self) -> list[str]:
        """Every voice id this process offers."""
        return [f"{name}{SEPARATOR}{voice}" for name, engine in self._engines.items() for voice in engine.voices()]

    def resolve(self, voice_id: str | None) -> tuple[TTSEngine, str]:
        """(engine, voice name) for a voice id; None means the default voice. Raises UnknownVoice."""
        return self._resolve_id(voice_id if voice_id is not None else self.default_voice_id)

    def _resolve_id(self, voice_id: str) -> tuple[TTSEngine, str]:
        engine_name, separator, voice = voice_id.partition(SEPARATOR)
        if separator:
            engine = self._engines.get(engine_name)
            if engine is not None and voice in engine.voices():
                return engine, voice
        elif voice_id in self._default_engine.voices():
            return self._default_engine, voice_id
        elif voice_id in self._engines:
            engine = self._engines[voice_id]
            return engine, engine.default_voice
        raise UnknownVoice(f"unknown voice {voice_id!r}; voices: {', '.join(self.voices())}")
