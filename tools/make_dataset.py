"""Build the audio-to-face data set: synthetic voices with their own timings, and real human recordings aligned
to their transcripts.

    bash tools/get_voice_data.sh                           # the recordings and Festival voices (Debian packages)
    nice -n 19 .venv/bin/python -m tools.make_dataset      # writes data/a2f/*.npz (cached shard by shard)

Synthetic part: sentences from tools.a2f_corpus (a held-out share never spoken in training), each training
sentence spoken by piper joe and by one espeak-ng or Festival voice (rate, pitch and variability varied);
HELD_OUT_VOICES speak only for evaluation. Human part (tools.human_corpus): every recording of a training speaker
whose alignment passed (tools.align_sphinx; cached in data/alignments/), HUMAN_COPIES times with independent
augmentations; held-out speakers (all of Allison Smith's recordings, and Menardi) only in test splits.

Each utterance is placed on a 48 kHz timeline with silence around it, augmented (tools.a2f_augment: speed, gain,
EQ, reverberation, noise, band limits, codecs), turned into log-mel frames exactly as the server does
(engines.face.features), and paired with the mouth curves of engines.face.visemes at every mel frame centre.
Windows reach DATA_FUTURE mel frames past their centre, the most look-ahead a model trained on them may use.
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engines.face.features import PAST, TIMELINE_PER_MEL, timeline_log_mel
from engines.face.visemes import mouth_curves
from engines.resample import resample
from engines.tts.base import Speech, SynthesisOptions, Timed, TTSEngine
from engines.tts.ipa import PAUSE
from engines.tts.registry import SEPARATOR, build_engine
from tools import a2f_augment, align_sphinx, festival_voice, human_corpus
from tools.a2f_corpus import make_corpus

log = logging.getLogger(__name__)
TIMELINE_RATE = 48_000
DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "a2f"
ALIGNMENTS_DIR = Path(__file__).resolve().parents[1] / "data" / "alignments"
DATA_FUTURE = 10  # mel frames of look-ahead stored with every window (100 ms)
DATA_WINDOW = PAST + 1 + DATA_FUTURE
ESPEAK_VOICES = (
    "espeak:en-us",
    "espeak:en-us+f3",
    "espeak:en-us+m3",
    "espeak:en-us+m7",
    "espeak:en-gb",
    "espeak:en-gb+f2",
    "espeak:en-gb-rp",
    "espeak:en-gb-scotland",
)
FESTIVAL_TRAIN_VOICES = ("festival:kal", "festival:slt")
TRAIN_VOICES = ("piper:joe", *ESPEAK_VOICES, *FESTIVAL_TRAIN_VOICES)
HELD_OUT_VOICES = ("espeak:en-029", "espeak:en-us+f4")  # an accent and a female variant never heard in training
HELD_OUT_FESTIVAL = "festival:ked"  # a third synthesizer's voice never heard in training
HUMAN_COPIES = 2
SHARD_SIZE = 100


@dataclass(frozen=True)
class Utterance:
    """A sentence for a TTS voice, or (voice "human:SPEAKER") one recording named by `text`."""

    text: str
    voice_id: str
    options: SynthesisOptions
    augment: bool


@dataclass
class Example:
    """One utterance's features and targets: targets[k] belongs to the window mel[k : k + DATA_WINDOW]."""

    mel: np.ndarray  # (rows, N_MELS) float16; row r is mel frame r - PAST of the utterance's timeline
    targets: np.ndarray  # (rows - DATA_WINDOW + 1, N_PARAMS) float16
    speech: np.ndarray  # (rows - DATA_WINDOW + 1,) bool: the centre lies inside a phoneme (not a pause)


def random_options(voice_id: str, rng: np.random.Generator) -> SynthesisOptions:
    wide = not voice_id.startswith("espeak")  # espeak's own variants already vary pitch a lot
    return SynthesisOptions(
        rate=float(rng.uniform(0.8, 1.3)),
        pitch=float(rng.uniform(0.9, 1.12) if wide else rng.uniform(0.8, 1.25)),
        variability=float(rng.uniform(0.4, 1.5)),
    )


def plan(sentences: list[str], held_out_share: float, seed: int) -> dict[str, list[Utterance]]:
    """Split sentences, then assign voices: every training sentence twice, by piper and by a random espeak or
    Festival voice (piper is the voice the server speaks with, so it gets half the synthetic data). Test sentences
    are spoken by the training voices in turn (clean, and again augmented) and by every held-out voice."""
    rng = np.random.default_rng(seed)
    n_test = int(len(sentences) * held_out_share)
    test, train = sentences[:n_test], sentences[n_test:]
    others = [*ESPEAK_VOICES, *FESTIVAL_TRAIN_VOICES]
    splits: dict[str, list[Utterance]] = {
        "train": [], "test_seen_voices": [], "test_held_out_voice": [], "test_seen_voices_augmented": [],
        "test_festival_ked": [],
    }
    for text in train:
        for voice_id in ("piper:joe", str(rng.choice(others))):
            splits["train"].append(Utterance(text, voice_id, random_options(voice_id, rng), augment=True))
    for i, text in enumerate(test):
        seen_voice = TRAIN_VOICES[i % len(TRAIN_VOICES)]
        splits["test_seen_voices"].append(Utterance(text, seen_voice, SynthesisOptions(), augment=False))
        splits["test_seen_voices_augmented"].append(Utterance(text, seen_voice, SynthesisOptions(), augment=True))
        for voice_id in HELD_OUT_VOICES:
            splits["test_held_out_voice"].append(Utterance(text, voice_id, SynthesisOptions(), augment=False))
        splits["test_festival_ked"].append(Utterance(text, HELD_OUT_FESTIVAL, SynthesisOptions(), augment=False))
    return splits


def plan_human(alignments: dict[str, dict[str, list]]) -> dict[str, list[Utterance]]:
    """Training speakers' aligned recordings HUMAN_COPIES times (augmented); each held-out speaker's once, clean,
    and Allison Smith's English once more with the training augmentations."""
    splits: dict[str, list[Utterance]] = {"train_human": []}
    for speaker in human_corpus.SPEAKERS:
        names = [name for name, phonemes in alignments[speaker.id].items() if phonemes]
        voice = f"human{SEPARATOR}{speaker.id}"
        if speaker.held_out:
            splits[f"test_human_{speaker.id}"] = [Utterance(n, voice, SynthesisOptions(), False) for n in names]
        else:
            splits["train_human"] += [Utterance(n, voice, SynthesisOptions(), True)
                                      for _ in range(HUMAN_COPIES) for n in names]
    allison = f"human{SEPARATOR}allison-en"
    splits["test_human_allison-en_augmented"] = [
        Utterance(u.text, allison, u.options, True) for u in splits["test_human_allison-en"]]
    return splits


def align_speaker(speaker_id: str, out_dir: Path) -> None:
    """Phone timings of every recording of one speaker (null where the alignment was rejected), cached."""
    path = out_dir / f"{speaker_id}.json"
    if path.exists():
        return
    speaker = human_corpus.speaker(speaker_id)
    started, result = time.perf_counter(), {}
    for recording in human_corpus.recordings(speaker):
        pcm, rate = human_corpus.load_audio(recording.path)
        if speaker.language == "en":
            phonemes = align_sphinx.align(pcm, rate, recording.text)
        else:
            phonemes = align_sphinx.align_phonemes(pcm, rate, recording.text, speaker.language)
        result[recording.name] = None if phonemes is None else [[p.text, p.start, p.end] for p in phonemes]
    path.write_text(json.dumps(result, ensure_ascii=False))
    kept = sum(v is not None for v in result.values())
    log.info("%s: %d of %d recordings aligned (%.0f s)", speaker_id, kept, len(result), time.perf_counter() - started)


def load_alignments(directory: Path = ALIGNMENTS_DIR) -> dict[str, dict[str, list]]:
    return {s.id: json.loads((directory / f"{s.id}.json").read_text()) for s in human_corpus.SPEAKERS}


@lru_cache(maxsize=None)
def tts_engine(name: str) -> TTSEngine:
    """Each engine loads once per worker process."""
    return build_engine(name)


@lru_cache(maxsize=None)
def _alignments_of(speaker_id: str) -> dict[str, list]:
    return json.loads((ALIGNMENTS_DIR / f"{speaker_id}.json").read_text())


def human_speech(speaker_id: str, name: str) -> Speech:
    """A recording with its cached phone timings."""
    speaker = human_corpus.speaker(speaker_id)
    path = speaker.directory / f"{name}.{speaker.extension}"
    pcm, rate = human_corpus.load_audio(path)
    return Speech(pcm, rate, [Timed(t, s, e) for t, s, e in _alignments_of(speaker_id)[name]], [])


def speak_all(utterances: list[Utterance]) -> list[Speech]:
    """Every utterance's speech; Festival's are spoken in one batch per voice and rate."""
    spoken: dict[int, Speech] = {}
    festival = [i for i, u in enumerate(utterances) if u.voice_id in festival_voice.VOICES]
    by_voice: dict[tuple[str, float], list[int]] = {}
    for i in festival:
        u = utterances[i]
        by_voice.setdefault((u.voice_id, round(u.options.rate, 1)), []).append(i)
    for (voice_id, rate), indices in by_voice.items():
        for i, speech in zip(indices, festival_voice.synthesize_batch([utterances[i].text for i in indices],
                                                                      voice_id, rate)):
            spoken[i] = speech
    for i, u in enumerate(utterances):
        if i in spoken:
            continue
        engine_name, _, voice = u.voice_id.partition(SEPARATOR)
        if engine_name == "human":
            spoken[i] = human_speech(voice, u.text)
        else:
            spoken[i] = tts_engine(engine_name).synthesize(u.text, voice, options=u.options)
    return [spoken[i] for i in range(len(utterances))]


def timeline_example(pcm48: np.ndarray, phonemes: list[Timed]) -> Example:
    """Features and targets of int16 audio placed at timeline sample 0, silence before it."""
    mel = timeline_log_mel(pcm48, first_mel=-PAST)
    times = np.arange(max(0, len(mel) - DATA_WINDOW + 1)) * TIMELINE_PER_MEL / TIMELINE_RATE
    targets = mouth_curves(phonemes, times)
    speech = np.zeros(len(times), dtype=bool)
    for p in phonemes:
        if p.text != PAUSE:
            speech |= (times >= p.start) & (times < p.end)
    return Example(mel.astype(np.float16), targets.astype(np.float16), speech)


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
        speech=np.concatenate([e.speech for e in examples]),
        voices=np.array([u.voice_id for u in utterances]),
        texts=np.array([u.text for u in utterances]),
        future=DATA_FUTURE,
    )


def build_shard(name: str, index: int, utterances: list[Utterance], out_dir: Path, seed: int) -> None:
    """One cached shard; a shard already on disk is kept, so an interrupted run resumes where it stopped."""
    path = out_dir / f"{name}-{index:03d}.npz"
    if path.exists():
        return
    rng = np.random.default_rng([seed, index, sum(map(ord, name))])
    started = time.perf_counter()
    examples = [make_example(s, u.augment, rng) for s, u in zip(speak_all(utterances), utterances)]
    save_shard(path, examples, utterances)
    log.info("%s: %d utterances (%.0f s)", path.name, len(utterances), time.perf_counter() - started)


def source_of(voice_id: str) -> str:
    """The source a voice belongs to, for the hours table: the human speaker, or the TTS engine."""
    engine, _, voice = voice_id.partition(SEPARATOR)
    return voice_id if engine == "human" else engine


def summary(out_dir: Path) -> str:
    """Hours of audio (silence around each utterance included) and utterances per split and source."""
    table: dict[tuple[str, str], list[float]] = {}
    for shard in sorted(out_dir.glob("*.npz")):
        split = shard.name.rsplit("-", 1)[0]
        data = np.load(shard)
        rows = np.diff(data["mel_offsets"])
        for voice, n in zip(data["voices"], rows):
            entry = table.setdefault((split, source_of(str(voice))), [0.0, 0])
            entry[0] += (n - PAST) * TIMELINE_PER_MEL / TIMELINE_RATE / 3600
            entry[1] += 1
    lines = ["| split | source | utterances | hours |", "| --- | --- | --- | --- |"]
    lines += [f"| {split} | {source} | {count} | {hours:.2f} |" for (split, source), (hours, count) in table.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1_600)
    parser.add_argument("--held-out-share", type=float, default=0.06)
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--summary", action="store_true", help="print hours by split and source of the shards")
    args = parser.parse_args()
    if args.summary:
        print(summary(args.out))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    ALIGNMENTS_DIR.mkdir(parents=True, exist_ok=True)
    with multiprocessing.Pool(args.workers) as pool:
        pool.starmap(align_speaker, [(s.id, ALIGNMENTS_DIR) for s in human_corpus.SPEAKERS], chunksize=1)
        splits = plan(make_corpus(args.sentences, args.seed), args.held_out_share, args.seed)
        splits.update(plan_human(load_alignments()))
        rng = np.random.default_rng(args.seed)
        for utterances in splits.values():  # shards of mixed speakers and voices
            rng.shuffle(utterances)
        jobs = [
            (name, first // SHARD_SIZE, utterances[first : first + SHARD_SIZE], args.out, args.seed)
            for name, utterances in splits.items()
            for first in range(0, len(utterances), SHARD_SIZE)
        ]
        pool.starmap(build_shard, jobs, chunksize=1)


if __name__ == "__main__":
    main()
