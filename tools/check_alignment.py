"""How right are the phone timings the human training targets are made from? Numbers and a picture.

    .venv/bin/python -m tools.check_alignment [--plot docs/alignment_check.png]

1. Timings known exactly: synthetic voices whose engines report their own phone timings (Festival's kal and ked,
   made of recorded diphones, its HTS voice slt, piper joe, espeak-ng) are aligned as if they were recordings
   (without the acoustic-score limit, which formant speech never passes). DTW is flattered on espeak-ng, whose
   reference is espeak-ng itself. For each aligner: Pearson r of the jaw_open and lip_close target curves made from
   the aligned timings against those made from the true ones (what training sees), and the median error of the
   lip closures' onsets (m, b, p), each matched to the nearest aligned closure.
2. Human speech, two aligners against each other: Allison Smith's English prompts aligned with the CMU dictionary
   and with espeak-ng's phonemes (the method used for the other languages).
3. A picture: spectrograms of human recordings with the aligned phones and the target curves drawn over them.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engines.face.visemes import mouth_curves, viseme
from engines.tts.base import Speech, SynthesisOptions, Timed
from engines.tts.ipa import PAUSE
from engines.tts.registry import build_engine
from tools import align_dtw, align_sphinx, festival_voice, human_corpus
from tools.a2f_corpus import make_corpus
from tools.a2f_metrics import CLOSE, JAW, pearson

STEP_S = 0.01
SENTENCES = 24
NO_LIMIT = -np.inf  # timing is measured on every alignment, the acoustic-score limit left out
PLOTTED = "agent-pass"  # "Please enter your password followed by the pound key", in each speaker's language
Aligner = Callable[[np.ndarray, int, str], list[Timed] | None]


def closure_onsets(phonemes: list[Timed]) -> np.ndarray:
    return np.array([p.start for p in phonemes if "lip_close" in viseme(p.text).critical])


def compare(truth: list[Timed], aligned: list[Timed], duration: float) -> tuple[np.ndarray, np.ndarray, list[float]]:
    times = np.arange(0, duration, STEP_S)
    true_onsets, aligned_onsets = closure_onsets(truth), closure_onsets(aligned)
    errors = [float(np.min(np.abs(aligned_onsets - t))) for t in true_onsets] if len(aligned_onsets) else []
    return mouth_curves(truth, times), mouth_curves(aligned, times), errors


def score(cases: list[tuple[Speech, str]], aligner: Aligner) -> dict[str, float]:
    truths, aligned, errors, failed = [], [], [], 0
    for speech, text in cases:
        result = aligner(speech.pcm, speech.sample_rate, text)
        if result is None:
            failed += 1
            continue
        a, b, e = compare(speech.phonemes, result, speech.duration)
        truths.append(a)
        aligned.append(b)
        errors += e
    if not truths:
        raise SystemExit(f"no alignment succeeded on {len(cases)} utterances")
    truth, got = np.concatenate(truths), np.concatenate(aligned)
    return {"r_jaw": pearson(truth[:, JAW], got[:, JAW]), "r_close": pearson(truth[:, CLOSE], got[:, CLOSE]),
            "closure_onset_ms": 1000 * float(np.median(errors)), "closures": float(len(errors)),
            "utterances": float(len(cases) - failed), "failed": float(failed)}


def english_cases() -> dict[str, list[tuple[Speech, str]]]:
    sentences = make_corpus(SENTENCES, seed=1)
    cases: dict[str, list[tuple[Speech, str]]] = {}
    for voice in festival_voice.VOICES:
        cases[voice] = list(zip(festival_voice.synthesize_batch(sentences, voice), sentences))
    piper, espeak = build_engine("piper"), build_engine("espeak")
    cases["piper:joe"] = [(piper.synthesize(s, "joe"), s) for s in sentences]
    cases["espeak:en-029"] = [(espeak.synthesize(s, "en-029", options=SynthesisOptions(rate=1.15)), s)
                              for s in sentences]
    return cases


def human_agreement(step: int = 4) -> dict[str, float]:
    """Allison Smith's English prompts: CMU-dictionary alignment against espeak-phoneme alignment."""
    a_curves, b_curves = [], []
    for recording in list(human_corpus.recordings(human_corpus.speaker("allison-en")))[::step]:
        pcm, rate = human_corpus.load_audio(recording.path)
        cmu = align_sphinx.align(pcm, rate, recording.text)
        phon = align_sphinx.align_phonemes(pcm, rate, recording.text, "en-us")
        if cmu and phon:
            a, b, _ = compare(cmu, phon, len(pcm) / rate)
            a_curves.append(a)
            b_curves.append(b)
    a, b = np.concatenate(a_curves), np.concatenate(b_curves)
    return {"r_jaw": pearson(a[:, JAW], b[:, JAW]), "r_close": pearson(a[:, CLOSE], b[:, CLOSE]),
            "utterances": float(len(a_curves))}


def plot(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import signal

    speakers = ("allison-en", "june-fr", "carlo-it", "ivrvoice-ru")
    fig, axes = plt.subplots(len(speakers), 1, figsize=(14, 3.2 * len(speakers)))
    for ax, speaker_id in zip(axes, speakers):
        speaker = human_corpus.speaker(speaker_id)
        recording = next(r for r in human_corpus.recordings(speaker) if r.name == PLOTTED)
        pcm, rate = human_corpus.load_audio(recording.path)
        phonemes = (align_sphinx.align(pcm, rate, recording.text) if speaker.language == "en"
                    else align_sphinx.align_phonemes(pcm, rate, recording.text, speaker.language))
        f, t, spec = signal.spectrogram(pcm.astype(float), rate, nperseg=400, noverlap=240)
        ax.pcolormesh(t, f, 10 * np.log10(spec + 1e-3), shading="auto", cmap="Greys")
        top = f[-1]
        for p in phonemes or []:
            if p.text != PAUSE:
                ax.axvline(p.start, color="tab:blue", lw=0.6)
                ax.text((p.start + p.end) / 2, top * 0.92, p.text, ha="center", fontsize=8, color="tab:blue")
        times = np.arange(0, len(pcm) / rate, STEP_S)
        curves = mouth_curves(phonemes or [], times)
        ax.plot(times, curves[:, JAW] * top * 0.8, color="tab:red", label="jaw_open target")
        ax.plot(times, curves[:, CLOSE] * top * 0.8, color="tab:green", label="lip_close target")
        ax.set_title(f"{speaker_id} {recording.name}: {recording.text}", fontsize=9)
        ax.set_ylabel("Hz")
        ax.legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plot", type=Path, help="write the picture of aligned human recordings here")
    args = parser.parse_args()
    rows = ["| voice | aligner | utterances (failed) | r jaw_open curve | r lip_close curve | closure onset error, "
            "median (ms) |", "| --- | --- | --- | --- | --- | --- |"]

    def row(voice: str, aligner: str, m: dict[str, float]) -> None:
        rows.append(f"| {voice} | {aligner} | {m['utterances']:.0f} ({m['failed']:.0f}) | {m['r_jaw']:.3f} | "
                    f"{m['r_close']:.3f} | {m['closure_onset_ms']:.0f} (of {m['closures']:.0f}) |")

    for voice, cases in english_cases().items():
        row(voice, "PocketSphinx, CMU dictionary",
            score(cases, lambda pcm, rate, text: align_sphinx.align(pcm, rate, text, NO_LIMIT)))
        row(voice, "PocketSphinx, espeak phonemes",
            score(cases, lambda pcm, rate, text: align_sphinx.align_phonemes(pcm, rate, text, "en-us", NO_LIMIT)))
        row(voice, "DTW to espeak-ng", score(cases, lambda pcm, rate, text: _dtw(pcm, rate, text, "en-us")))
    print("\n".join(rows))
    agreement = human_agreement()
    print(f"\nAllison Smith (human), CMU dictionary vs espeak phonemes: r jaw_open {agreement['r_jaw']:.3f}, "
          f"r lip_close {agreement['r_close']:.3f} over {agreement['utterances']:.0f} prompts")
    if args.plot:
        plot(args.plot)
        print(f"wrote {args.plot}")


def _dtw(pcm: np.ndarray, rate: int, text: str, language: str) -> list[Timed] | None:
    result = align_dtw.align(pcm, rate, text, language)
    return None if result is None else result.phonemes


if __name__ == "__main__":
    main()
