"""Coqui TTS (`coqui-tts`, the extra `[coqui]`): a model the user brings, `--tts coqui --tts-model DIR`.

DIR holds the model's config.json and weights, as Coqui's trainer or model zoo leaves them; nothing is ever
downloaded. Two model types are supported:
- VITS (single-speaker, multi-speaker with speakers.pth/.json, multilingual with language_ids.json beside the
  config): the weights are model.pth, model_file.pth, best_model.pth or the newest checkpoint_*.pth. The voices are
  the speakers' names (a single-speaker model's one voice is named after DIR). A phrase is spoken sentence by
  sentence, and `stream` yields each sentence as soon as it is ready.
- XTTS v2 (model.pth and vocab.json): voices are cloned from a reference recording (`speaker_wav`, a few seconds of
  clean speech, any rate, read with soundfile: no FFmpeg needed) named after its file, plus the studio speakers of
  speakers_xtts.pth when the folder has it. `stream` uses XTTS's own streaming inference, a piece every
  `_XTTS_CHUNK_TOKENS` GPT tokens (about 0.9 s of audio).

No Coqui model gives phoneme timings: the face network drives the mouth from the audio, and the words come from
the estimate in `word_timing` (espeak-ng phoneme counts spread over the voiced audio). One model speaks one VITS
sentence or one whole XTTS phrase at a time (XTTS keeps a generation's conditioning inside the model), waiting at
most `options.timeout` for its turn; a phrase whose synthesis takes longer than `options.timeout` in all stops
before its next sentence or piece with TimeoutError.
`SynthesisOptions.rate` sets the speed (VITS: the duration scale; XTTS: its `speed`); pitch and variability are
the data-set engines' (piper, espeak) and are not applied here.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pysbd
import soundfile
import torch
from TTS.config import load_config
from TTS.tts.models import setup_model

from engines.tts.audio_only import AudioOnlyEngine, Piece
from engines.tts.base import EngineOptions, EngineUnavailable, SynthesisOptions
from engines.tts.words import text_words

log = logging.getLogger(__name__)

_KINDS = ("vits", "xtts")
_VITS_WEIGHTS = ("model.pth", "model_file.pth", "best_model.pth")
_XTTS_CHUNK_TOKENS = 20  # GPT tokens per streamed piece; each token is 1024 samples at 22.05 kHz
_SPEAKABLE = re.compile(r"\w")
_MIN_REFERENCE_S = 1.0  # XTTS wants a few seconds of speech; below a second the clone is noise
_ERROR_CHARS = 300


class CoquiEngine(AudioOnlyEngine):
    """Loads the model once on construction; raises EngineUnavailable naming what is wrong with the folder, the
    reference recording, the voice or the language. Safe to call from several threads (one phrase at a time)."""

    name = "coqui"

    def __init__(self, options: EngineOptions | None = None) -> None:
        super().__init__()
        options = options or EngineOptions()
        started = time.perf_counter()
        torch.set_num_threads(options.threads)
        self._folder = options.model
        self._config, self._model = _load(options.model)
        self._kind: str = self._config.model
        self._rate = options.rate
        self._timeout = options.timeout
        self._lock = threading.Lock()
        if self._kind == "xtts":
            self._latents = _xtts_voices(self._model, self._config, options.speaker_wav)
            self._voices = list(self._latents)
            self._model_language = _choose(options.language or "en", self._config.languages, "language")
            self.sample_rate: int = self._config.model_args.output_sample_rate
        else:
            manager = self._model.speaker_manager
            self._multi_speaker = manager is not None and manager.num_speakers > 1
            self._voices = manager.speaker_names if self._multi_speaker else [options.model.name]
            languages = self._model.language_manager.language_names if self._model.language_manager else []
            self._model_language = _choose(options.language, languages, "language") if len(languages) > 1 else None
            self.sample_rate = self._config.audio.sample_rate
            self._length_scale = float(self._model.length_scale)
        self.language = options.language or self._config.get("phoneme_language") or "en"
        self._segmenter = pysbd.Segmenter(language=_sentence_language(self.language), clean=False)
        self._default = _choose(options.voice, self._voices, "voice") if options.voice else self._voices[0]
        log.info("coqui %s model %s loaded in %.2f s: %d Hz, voices %s", self._kind, options.model,
                 time.perf_counter() - started, self.sample_rate, ", ".join(self._voices))

    def audio(self, text: str, voice: str, options: SynthesisOptions | None) -> Iterator[Piece]:
        """Only the engine's own time counts against the timeout, not the time the caller takes between pieces."""
        speed = (options or SynthesisOptions(rate=self._rate)).rate
        pieces = self._xtts(text, voice, speed) if self._kind == "xtts" else self._vits(text, voice, speed)
        busy = 0.0
        with closing(pieces):
            while True:
                if busy > self._timeout:
                    raise TimeoutError(f"coqui model {self._folder} took more than {self._timeout:g} s over {text!r}")
                began = time.monotonic()
                piece = next(pieces, None)
                busy += time.monotonic() - began
                if piece is None:
                    return
                yield piece

    def _vits(self, text: str, voice: str, speed: float) -> Iterator[Piece]:
        speaker = voice if self._multi_speaker else None
        spoken = 0
        for sentence in self._segmenter.segment(text):
            spoken += len(text_words(sentence))
            if _SPEAKABLE.search(sentence):
                with self._turn():
                    self._model.length_scale = self._length_scale / speed
                    wav = self._model.synthesize(sentence, speaker=speaker, language=self._model_language)["wav"]
                yield Piece(_int16(wav), self.sample_rate, spoken)

    def _xtts(self, text: str, voice: str, speed: float) -> Iterator[Piece]:
        latent, embedding = self._latents[voice]
        settings = {key: self._config[key] for key in ("temperature", "length_penalty", "repetition_penalty", "top_k", "top_p")}
        with self._turn():  # the whole phrase: the model holds its conditioning between pieces
            for chunk in self._model.inference_stream(
                text, self._model_language, latent, embedding, stream_chunk_size=_XTTS_CHUNK_TOKENS, speed=speed,
                enable_text_splitting=True, **settings,
            ):
                yield Piece(_int16(chunk.cpu().numpy()), self.sample_rate)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """The model to this caller alone, after waiting at most the timeout for the caller before it."""
        if not self._lock.acquire(timeout=self._timeout):
            raise TimeoutError(f"coqui model {self._folder} stayed busy with another phrase for {self._timeout:g} s")
        try:
            yield
        finally:
            self._lock.release()


def _load(folder: Path | None) -> tuple[Any, Any]:
    """(config, model in eval mode) from a model folder, or EngineUnavailable saying what the folder lacks."""
    if folder is None:
        raise EngineUnavailable("the coqui engine needs a model folder: --tts-model DIR, with config.json and the weights")
    if not folder.is_dir():
        raise EngineUnavailable(f"Coqui model folder {folder} does not exist or is not a folder")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise EngineUnavailable(f"{folder} has no config.json: a Coqui model folder holds config.json and the weights")
    try:
        config = load_config(str(config_path))
    except Exception as exc:
        raise EngineUnavailable(f"{config_path} is not a Coqui model config ({_short(exc)})") from exc
    if config.model not in _KINDS:
        raise EngineUnavailable(f"{config_path} is a {config.model!r} model; the coqui engine runs {', '.join(_KINDS)}")
    weights = _weights(folder, config.model)
    _use_folder_files(config, folder)
    try:
        model = setup_model(config)
        if config.model == "xtts":
            model.load_checkpoint(config, checkpoint_dir=str(folder), eval=True)
        else:
            model.load_checkpoint(config, checkpoint_path=str(weights), eval=True)
    except Exception as exc:
        raise EngineUnavailable(f"could not load the Coqui {config.model} model {weights}: {_short(exc)}") from exc
    return config, model


def _weights(folder: Path, kind: str) -> Path:
    names = ("model.pth",) if kind == "xtts" else _VITS_WEIGHTS
    found = [folder / name for name in names if (folder / name).is_file()]
    if kind == "vits":
        found += sorted(folder.glob("checkpoint_*.pth"), key=lambda path: path.stat().st_mtime, reverse=True)
    if not found:
        raise EngineUnavailable(f"{folder} has no {kind} weights: expected {' or '.join(names)}")
    return found[0]


def _use_folder_files(config: Any, folder: Path) -> None:
    """Point the config's speaker and language files at those in the folder: a config records the paths of the
    machine it was trained on."""
    for key, names in (("speakers_file", ("speakers.pth", "speakers.json")), ("d_vector_file", ("speakers.pth",)),
                       ("language_ids_file", ("language_ids.json",))):
        present = next((folder / name for name in names if (folder / name).is_file()), None)
        if present is None:
            continue
        for section in (config, config.get("model_args")):
            if section is not None and key in section and section[key]:
                section[key] = [str(present)] if key == "d_vector_file" else str(present)


def _xtts_voices(model: Any, config: Any, speaker_wav: Path | None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Voice name -> (GPT conditioning latent, speaker embedding): the cloned recording's, then the studio speakers'."""
    voices: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if speaker_wav is not None:
        voices[speaker_wav.stem] = _clone(model, config, speaker_wav)
    if model.speaker_manager is not None:
        for name, latents in model.speaker_manager.speakers.items():
            voices[name] = (latents["gpt_cond_latent"], latents["speaker_embedding"])
    if not voices:
        raise EngineUnavailable("an XTTS model clones its voice from a recording: give a speaker reference WAV "
                                "(--tts-speaker-wav FILE, a few seconds of clean speech) or put speakers_xtts.pth in the folder")
    return voices


def _clone(model: Any, config: Any, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise EngineUnavailable(f"cannot read the speaker reference {path}: {_short(exc)}") from exc
    mono = samples.mean(axis=1)
    if len(mono) < _MIN_REFERENCE_S * rate or np.abs(mono).max() < 1e-3:
        raise EngineUnavailable(f"cannot clone a voice from {path}: it holds {len(mono) / rate:.2f} s, peak "
                                f"{np.abs(mono).max(initial=0.0):.4f}; XTTS needs a few seconds of clean speech")
    audio = torch.from_numpy(mono[: int(rate * config.max_ref_len)])[None]
    try:
        latent = model.get_gpt_cond_latents(audio, rate, length=config.gpt_cond_len, chunk_length=config.gpt_cond_chunk_len)
        return latent, model.get_speaker_embedding(audio, rate)
    except Exception as exc:
        raise EngineUnavailable(f"cannot clone a voice from {path}: {_short(exc)}") from exc


def _choose(value: str | None, choices: list[str], what: str) -> str:
    if value is None:
        return choices[0]
    if value not in choices:
        raise EngineUnavailable(f"the Coqui model has no {what} {value!r}; it has: {', '.join(choices)}")
    return value


def _sentence_language(language: str) -> str:
    code = language.split("-")[0].lower()
    return code if code in pysbd.languages.LANGUAGE_CODES else "en"


def _short(exc: BaseException) -> str:
    """An exception on one line, cut to a readable length (torch lists every mismatched tensor)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _ERROR_CHARS else text[:_ERROR_CHARS] + " ..."


def _int16(wav: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(wav, dtype=np.float32).reshape(-1) * 32767.0), -32768, 32767).astype(np.int16)
