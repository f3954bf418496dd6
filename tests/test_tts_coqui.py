"""The Coqui engine with small random-weight models built from their configs (tests/coqui_models.py): the plumbing,
not the voice. Sample rates, resampling, sentence and XTTS streaming, speed, timeouts, voices and languages, and a
clear error for every way a model folder or a reference recording can be wrong."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from engines.resample import resample
from engines.tts import coqui_engine
from engines.tts.base import (
    EngineOptions,
    EngineUnavailable,
    Speech,
    SynthesisOptions,
    UnknownVoice,
)
from engines.tts.coqui_engine import CoquiEngine
from engines.tts.registry import VoiceRegistry
from tests.coqui_models import VITS_RATE, vits_folder, xtts_folder

TWO_SENTENCES = "Good morning to you. How are the apples today?"
WORDS = ["Good", "morning", "to", "you", "How", "are", "the", "apples", "today"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("coqui")
    reference = root / "lena.wav"  # 3 s of a hummed vowel, 48 kHz stereo: the engine resamples and mixes it down
    t = np.arange(48000 * 3) / 48000
    hum = (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    soundfile.write(reference, np.stack([hum, hum], axis=1), 48000)
    return {
        "solo": vits_folder(root / "solo"),
        "duo": vits_folder(root / "duo", speakers=["ana", "ben"]),
        "xtts": xtts_folder(root / "xtts"),
        "reference": reference,
    }


@pytest.fixture(scope="module")
def solo(models: dict[str, Path]) -> CoquiEngine:
    return CoquiEngine(EngineOptions(model=models["solo"]))


@pytest.fixture(scope="module")
def xtts(models: dict[str, Path]) -> CoquiEngine:
    return CoquiEngine(EngineOptions(model=models["xtts"], speaker_wav=models["reference"], language="en"))


def _assert_words_in_order(speech: Speech, words: list[str]) -> None:
    assert [word.text for word in speech.words] == words
    for before, after in zip(speech.words, speech.words[1:]):
        assert before.start < before.end <= after.start + 1e-9
    assert 0.0 <= speech.words[0].start and speech.words[-1].end <= speech.duration + 1e-9


def test_vits_speaks_at_its_config_rate_with_estimated_words(solo: CoquiEngine) -> None:
    assert solo.voices() == ["solo"] and solo.default_voice == "solo"
    speech = solo.synthesize(TWO_SENTENCES)
    assert speech.sample_rate == VITS_RATE and speech.pcm.dtype == np.int16 and speech.duration > 0.5
    assert speech.phonemes == []  # the face network follows the audio
    _assert_words_in_order(speech, WORDS)
    at_48k = resample(speech.pcm, speech.sample_rate, 48000)
    assert len(at_48k) == len(speech.pcm) * 3


def test_vits_streams_sentence_by_sentence(solo: CoquiEngine) -> None:
    pieces = list(solo.stream(TWO_SENTENCES))
    assert len(pieces) == 2 and all(piece.sample_rate == VITS_RATE and len(piece.pcm) for piece in pieces)
    assert [word.text for word in pieces[0].words] == WORDS[:4]  # each sentence's words with its own audio
    assert [word.text for word in pieces[1].words] == WORDS[4:]
    for piece in pieces:
        _assert_words_in_order(piece, [word.text for word in piece.words])


def test_rate_scales_the_duration(solo: CoquiEngine) -> None:
    torch.manual_seed(1)
    normal = solo.synthesize(TWO_SENTENCES)
    torch.manual_seed(1)
    fast = solo.synthesize(TWO_SENTENCES, options=SynthesisOptions(rate=2.0))
    torch.manual_seed(1)
    slow = solo.synthesize(TWO_SENTENCES, options=SynthesisOptions(rate=0.5))
    # durations are whole frames of at least one each, so halving them shortens a little less than half
    assert fast.duration < 0.8 * normal.duration and slow.duration > 1.6 * normal.duration


def test_phrase_over_the_timeout_stops_at_the_next_sentence(models: dict[str, Path]) -> None:
    engine = CoquiEngine(EngineOptions(model=models["solo"], timeout=1e-6))
    pieces = engine.stream(TWO_SENTENCES)
    assert len(next(pieces).pcm) > 0  # the first sentence is spoken, the second is not begun
    with pytest.raises(TimeoutError, match=r"coqui model .*solo took more than 1e-06 s over 'Good morning"):
        next(pieces)
    with pytest.raises(TimeoutError):
        engine.synthesize(TWO_SENTENCES)


def test_multi_speaker_voices_from_the_folder(models: dict[str, Path]) -> None:
    engine = CoquiEngine(EngineOptions(model=models["duo"], voice="ben"))
    assert engine.voices() == ["ana", "ben"] and engine.default_voice == "ben"
    assert engine.synthesize("Hello there.", "ana").duration > 0
    with pytest.raises(UnknownVoice, match="coqui has no voice 'carl'; it has: ana, ben"):
        engine.synthesize("Hello there.", "carl")
    with pytest.raises(EngineUnavailable, match="no voice 'carl'; it has: ana, ben"):
        CoquiEngine(EngineOptions(model=models["duo"], voice="carl"))


def test_registered_and_addressed_by_voice_id(models: dict[str, Path]) -> None:
    registry = VoiceRegistry(["coqui", "espeak"], default="coqui:ana", options={"coqui": EngineOptions(model=models["duo"])})
    assert registry.voices()[:2] == ["coqui:ana", "coqui:ben"]
    engine, voice = registry.resolve("coqui:ben")
    assert (engine.name, voice) == ("coqui", "ben")


def test_xtts_clones_the_reference_and_streams_in_pieces(xtts: CoquiEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    assert xtts.voices() == ["lena"] and xtts.default_voice == "lena" and xtts.sample_rate == 24000
    monkeypatch.setattr(coqui_engine, "_XTTS_CHUNK_TOKENS", 4)  # the tiny model speaks 12 tokens: three pieces
    pieces = list(xtts.stream("Hello there, how are you?"))
    audio = [piece for piece in pieces if len(piece.pcm)]
    assert len(audio) == 3 and all(piece.sample_rate == 24000 for piece in pieces)
    assert [word.text for piece in pieces for word in piece.words] == ["Hello", "there", "how", "are", "you"]
    whole = xtts.synthesize("Hello there.")
    assert whole.sample_rate == 24000 and whole.duration > 0.3 and [w.text for w in whole.words] == ["Hello", "there"]


def test_an_unfinished_xtts_stream_frees_the_model_when_closed(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    engine = CoquiEngine(EngineOptions(model=models["xtts"], speaker_wav=models["reference"], timeout=1.0))
    monkeypatch.setattr(coqui_engine, "_XTTS_CHUNK_TOKENS", 4)
    first = engine.stream("Hello there.")
    next(first)  # this phrase holds the model between its pieces
    errors: list[BaseException] = []
    other = threading.Thread(target=lambda: _capture(errors, lambda: engine.synthesize("Good morning.")))
    other.start()
    other.join(10)
    assert len(errors) == 1 and isinstance(errors[0], TimeoutError) and "stayed busy with another phrase" in str(errors[0])
    first.close()  # an interrupted phrase: the model is free at once
    assert len(next(engine.stream("Good morning.")).pcm) > 0


def _capture(errors: list[BaseException], call) -> None:
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the test reads what the worker thread raised
        errors.append(exc)


def test_xtts_needs_a_voice_and_a_language_it_has(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="give a speaker reference WAV"):
        CoquiEngine(EngineOptions(model=models["xtts"]))
    with pytest.raises(EngineUnavailable, match="no language 'xx'; it has: en"):
        CoquiEngine(EngineOptions(model=models["xtts"], speaker_wav=models["reference"], language="xx"))
    short = tmp_path / "short.wav"
    soundfile.write(short, np.full(4800, 0.2, dtype=np.float32), 48000)
    with pytest.raises(EngineUnavailable, match=r"cannot clone a voice from .*short.wav: it holds 0.10 s"):
        CoquiEngine(EngineOptions(model=models["xtts"], speaker_wav=short))
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not a recording")
    with pytest.raises(EngineUnavailable, match=r"cannot read the speaker reference .*garbage.wav"):
        CoquiEngine(EngineOptions(model=models["xtts"], speaker_wav=garbage))
    with pytest.raises(EngineUnavailable, match=r"cannot read the speaker reference .*missing.wav"):
        CoquiEngine(EngineOptions(model=models["xtts"], speaker_wav=tmp_path / "missing.wav"))


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def _break(folder: Path, how: str) -> None:
    if how == "no config":
        (folder / "config.json").unlink()
    elif how == "garbage config":
        (folder / "config.json").write_text("{ this is not json")
    elif how == "other model type":
        config = json.loads((folder / "config.json").read_text())
        config["model"] = "tacotron2"
        (folder / "config.json").write_text(json.dumps(config))
    elif how == "no weights":
        (folder / "model.pth").unlink()
    elif how == "garbage weights":
        (folder / "model.pth").write_bytes(b"\x00" * 100)
    elif how == "weights of another shape":
        config = json.loads((folder / "config.json").read_text())
        config["model_args"]["hidden_channels"] = 24
        (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("no config", r"has no config.json"),
        ("garbage config", r"config.json is not a Coqui model config"),
        ("other model type", r"is a 'tacotron2' model; the coqui engine runs vits, xtts"),
        ("no weights", r"has no vits weights: expected model.pth or model_file.pth or best_model.pth"),
        ("garbage weights", r"could not load the Coqui vits model .*model.pth"),
        ("weights of another shape", r"could not load the Coqui vits model .*size mismatch"),
    ],
)
def test_a_broken_model_folder_is_a_clear_error(models: dict[str, Path], tmp_path: Path, how: str, message: str) -> None:
    folder = _copy(models["solo"], tmp_path / "model")
    _break(folder, how)
    with pytest.raises(EngineUnavailable, match=message):
        CoquiEngine(EngineOptions(model=folder))


def test_a_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="needs a model folder: --tts-model DIR"):
        CoquiEngine(EngineOptions())
    with pytest.raises(EngineUnavailable, match="does not exist or is not a folder"):
        CoquiEngine(EngineOptions(model=tmp_path / "nowhere"))
