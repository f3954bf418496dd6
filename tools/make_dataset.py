"""Build the audio-to-face training set with no external data: our sentences, our voices, our viseme targets.

    .venv/bin/python -m tools.make_dataset                 # writes data/a2f/*.npz (cached shard by shard)

Sentences come from tools.a2f_corpus; a held-out share of them is never spoken in training. Training voices are
piper joe (rate, pitch and variability varied) and several espeak-ng voices and variants; HELD_OUT_VOICES are
spoken only for evaluation. Each utterance is placed on a 48 kHz timeline with silence around it, augmented
(speed, gain, EQ, noise), turned into log-mel frames exactly as the server does (engines.face.features), and
paired with the mouth curves of engines.face.visemes at every mel frame centre.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engines.face.features import PAST, TIMELINE_PER_MEL, WINDOW, timeline_log_mel
from engines.face.visemes import mouth_curves
from engines.resample import resample
from engines.tts.base import Speech, SynthesisOptions, Timed, TTSEngine
from engines.tts.registry import SEPARATOR, build_engine
from tools import a2f_augment
from tools.a2f_corpus import make_corpus

log = logging.getLogger(__name__)
TIMELINE_RATE = 48_000
DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "a2f"
TRAIN_VOICES = (
    "piper:joe",
    "espeak:en-us",
    "espeak:en-us+f3",
    "espeak:en-us+m3",
    "espeak:en-us+m7",
    "espeak:en-gb",
    "espeak:en-gb+f2",
    "espeak:en-gb-rp",
    "espeak:en-gb-scotland",
)
HELD_OUT_VOICES = ("espeak:en-029", "espeak:en-us+f4")  # an accent and a female variant never heard in training
SHARD_SIZE = 100


@dataclass(frozen=True)
class Utterance:
    text: str
    voice_id: str
    options: SynthesisOptions
    augment: bool


@dataclass
class Example:
    """One utterance's features and targets: targets[k] belongs to the window mel[k : k + WINDOW]."""

    mel: np.ndarray  # (rows, N_MELS) float16; row r is mel frame r - PAST of the utterance's timeline
    targets: np.ndarray  # (rows - WINDOW + 1, N_PARAMS) float16


def random_options(voice_id: str, rng: np.random.Generator) -> SynthesisOptions:
    wide = voice_id.startswith("piper")  # espeak's own variants already vary pitch a lot
    return SynthesisOptions(
        rate=float(rng.uniform(0.8, 1.3)),
        pitch=float(rng.uniform(0.9, 1.12) if wide else rng.uniform(0.8, 1.25)),
        variability=float(rng.uniform(0.4, 1.5)),
    )


def plan(sentences: list[str], held_out_share: float, seed: int) -> dict[str, list[Utterance]]:
    """Split sentences, then assign voices: every training sentence twice, by piper and by a random espeak voice
    (piper is the voice the server speaks with, so it gets half the data). Test sentences are spoken by the
    training voices in turn (clean, and again augmented) and by every held-out voice."""
    rng = np.random.default_rng(seed)
    n_test = int(len(sentences) * held_out_share)
    test, train = sentences[:n_test], sentences[n_test:]
    espeak_voices = [v for v in TRAIN_VOICES if not v.startswith("piper")]
    splits: dict[str, list[Utterance]] = {
        "train": [], "test_seen_voices": [], "test_held_out_voice": [], "test_seen_voices_augmented": []
    }
    for text in train:
        for voice_id in ("piper:joe", str(rng.choice(espeak_voices))):
            splits["train"].append(Utterance(text, voice_id, random_options(voice_id, rng), augment=True))
    for i, text in enumerate(test):
        seen_voice = TRAIN_VOICES[i % len(TRAIN_VOICES)]
        splits["test_seen_voices"].append(Utterance(text, seen_voice, SynthesisOptions(), augment=False))
        splits["test_seen_voices_augmented"].append(Utterance(text, seen_voice, SynthesisOptions(), augment=True))
        for voice_id in HELD_OUT_VOICES:
            splits["test_held_out_voice"].append(Utterance(text, voice_id, SynthesisOptions(), augment=False))
    return splits


@lru_cache(maxsize=None)
def tts_engine(name: str) -> TTSEngine:
    """Each engine loads once per worker process."""
    return build_engine(name)


def speak(utterance: Utterance) -> Speech:
    engine_name, _, voice = utterance.voice_id.partition(SEPARATOR)
    return tts_engine(engine_name).synthesize(utterance.text, voice, options=utterance.options)


def timeline_example(pcm48: np.ndarray, phonemes: list[Timed]) -> Example:
    """Features and targets of int16 audio placed at timeline sample 0, silence before it."""
    mel = timeline_log_mel(pcm48, first_mel=-PAST)
    centres = np.arange(max(0, len(mel) - WINDOW + 1))
    targets = mouth_curves(phonemes, centres * TIMELINE_PER_MEL / TIMELINE_RATE)
    return Example(mel.astype(np.float16), targets.astype(np.float16))


def make_example(speech: Speech, augment: bool, rng: np.random.Generator) -> Example:
    lead, trail = rng.uniform(0.15, 0.7), rng.uniform(0.3, 0.8)
    voice = resample(speech.pcm, speech.sample_rate, TIMELINE_RATE).astype(np.float64) / 32768.0
    audio = np.concatenate([np.zeros(int(lead * TIMELINE_RATE)), voice, np.zeros(int(trail * TIMELINE_RATE))])
    speed = 1.0
    if augment:
        aug = a2f_augment.Augmentation.random(rng)
        audio, speed = a2f_augment.apply(audio, aug, rng), aug.speed
    pcm48 = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    scale = 1.0 / speed
    phonemes = [Timed(p.text, (p.start + lead) * scale, (p.end + lead) * scale) for p in speech.phonemes]
    return timeline_example(pcm48, phonemes)


def save_shard(path: Path, examples: list[Example], utterances: list[Utterance]) -> None:
    np.savez(
        path,
        mel=np.concatenate([e.mel for e in examples]),
        mel_offsets=np.cumsum([0] + [len(e.mel) for e in examples]),
        targets=np.concatenate([e.targets for e in examples]),
        target_offsets=np.cumsum([0] + [len(e.targets) for e in examples]),
        voices=np.array([u.voice_id for u in utterances]),
        texts=np.array([u.text for u in utterances]),
    )


def build_shard(name: str, index: int, utterances: list[Utterance], out_dir: Path, seed: int) -> None:
    """One cached shard; a shard already on disk is kept, so an interrupted run resumes where it stopped."""
    path = out_dir / f"{name}-{index:03d}.npz"
    if path.exists():
        return
    rng = np.random.default_rng([seed, index])
    started = time.perf_counter()
    examples = [make_example(speak(u), u.augment, rng) for u in utterances]
    save_shard(path, examples, utterances)
    log.info("%s: %d utterances (%.0f s)", path.name, len(utterances), time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1_600)
    parser.add_argument("--held-out-share", type=float, default=0.06)
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    splits = plan(make_corpus(args.sentences, args.seed), args.held_out_share, args.seed)
    jobs = [
        (name, first // SHARD_SIZE, utterances[first : first + SHARD_SIZE], args.out, args.seed)
        for name, utterances in splits.items()
        for first in range(0, len(utterances), SHARD_SIZE)
    ]
    with multiprocessing.Pool(args.workers) as pool:
        pool.starmap(build_shard, jobs, chunksize=1)


if __name__ == "__main__":
    main()
