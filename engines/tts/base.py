"""The text-to-speech interface every engine implements.

A phrase goes in, one `Speech` comes out: int16 PCM at the engine's own rate plus the phoneme and word timings
the engine knows. The timings drive captions (`word` events) and the phoneme face driver, and they are the
training targets of the audio-to-face network, so every engine reports them in one phoneme alphabet (IPA, as
espeak-ng writes it) and in seconds from the first sample of the phrase.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class UnknownVoice(ValueError):
    """The requested voice is not offered by any engine."""


class EngineUnavailable(RuntimeError):
    """An engine cannot be set up as configured (a missing or broken model, an unreachable speech service); the
    message names what to fix, so the command line can print it instead of a traceback."""


@dataclass(frozen=True)
class Timed:
    """A phoneme or a word with its time span, in seconds from the first sample of the phrase."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class SynthesisOptions:
    """Ways to vary a voice, so the audio-to-face data set hears more than one delivery of each voice.

    rate: speaking speed relative to the voice's default (2.0 = twice as fast).
    pitch: voice pitch relative to the default.
    variability: how much the engine varies timing and intonation (1.0 = the voice's default, 0 = flat).
    """

    rate: float = 1.0
    pitch: float = 1.0
    variability: float = 1.0

    def __post_init__(self) -> None:
        if not (0.25 <= self.rate <= 4.0 and 0.25 <= self.pitch <= 4.0 and 0.0 <= self.variability <= 3.0):
            raise ValueError(f"synthesis options out of range: {self}")


@dataclass(frozen=True)
class EngineOptions:
    """How the configuration sets an engine up (`--tts-model`, `--tts-rate`, ...); every engine takes the fields
    that apply to it and ignores the rest.

    model: a model the user brings (piper: a voice's .onnx file, with its .onnx.json beside it; coqui: a folder
        with config.json and the weights).
    rate: the default speaking rate, relative to each voice's own.
    threads: native threads per synthesis (coqui: torch's, for the whole process).
    url: the endpoint of an engine that calls a speech service (openai: the base URL, before /v1/audio/speech).
    voice: the default voice (coqui: a speaker of a multi-speaker model; openai: e.g. "alloy").
    voices: the voices a speech service offers, when it cannot list them itself (openai: `GET /v1/audio/voices`).
    model_name: the model a speech service is asked for (openai: "tts-1", "kokoro", ...).
    speaker_wav: a reference recording of the voice to clone (coqui XTTS), offered as a voice named after the file.
    language: the language spoken, for multilingual models (coqui XTTS: "en", "de", ...), and the espeak-ng language
        whose phonemizer sizes the words for the word-timing estimate.
    api_key_env: the environment variable holding a speech service's API key, sent as a bearer token when set;
        the key itself never appears on the command line.
    sample_rate: the rate of raw PCM from a speech service (OpenAI's is 24000).
    timeout: seconds to wait for a speech service (to connect, and for each read of its stream) and the longest a
        local model may take over one phrase before the engine gives up with TimeoutError.
    """

    model: Path | None = None
    rate: float = 1.0
    threads: int = 1
    url: str | None = None
    voice: str | None = None
    voices: tuple[str, ...] = ()
    model_name: str | None = None
    speaker_wav: Path | None = None
    language: str | None = None
    api_key_env: str = "TTS_API_KEY"
    sample_rate: int = 24000
    timeout: float = 10.0


@dataclass
class Speech:
    """The audio of one phrase and what the engine knows about its timing."""

    pcm: np.ndarray  # int16, mono
    sample_rate: int
    phonemes: list[Timed] = field(default_factory=list)
    words: list[Timed] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate


class TTSEngine(ABC):
    """One speech engine with one or more voices. `synthesize` blocks; callers run it in a worker thread.
    Engines are built with `EngineOptions` (all defaults: the engine's shipped voices)."""

    name: str

    @abstractmethod
    def voices(self) -> list[str]:
        """Voice names this engine offers (without the engine prefix)."""

    @property
    @abstractmethod
    def default_voice(self) -> str:
        """The voice used when none is asked for."""

    @abstractmethod
    def synthesize(self, text: str, voice: str | None = None, *, options: SynthesisOptions | None = None) -> Speech:
        """Speak one phrase. Raises UnknownVoice for a voice this engine does not have.
        `options` None keeps the voice's defaults."""

    def stream(self, text: str, voice: str | None = None, *, options: SynthesisOptions | None = None) -> Iterator[Speech]:
        """Speak one phrase in pieces, so that playback can start on the first. The pieces follow each other
        without gaps, at one sample rate; each carries the phonemes and words learned with it, timed from its own
        first sample. An engine that learns a word only after its audio (a timing estimate made when the phrase
        ends) sends it later, with a negative start; its last piece may then hold no audio. Closing the iterator
        early stops the synthesis. This default yields `synthesize` in one piece."""
        yield self.synthesize(text, voice, options=options)

    def resolve_voice(self, voice: str | None) -> str:
        """The voice to use for `voice` (None = the default); every engine rejects unknown names the same way."""
        if voice is None:
            return self.default_voice
        if voice not in self.voices():
            raise UnknownVoice(f"{self.name} has no voice {voice!r}; it has: {', '.join(self.voices())}")
        return voice
