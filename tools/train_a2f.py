"""Train the audio-to-face network on the data set of tools.make_dataset, export it, print held-out metrics.

    nice -n 19 .venv/bin/python -m tools.train_a2f                 # train, export assets/models/a2f.onnx, evaluate
    .venv/bin/python -m tools.train_a2f --eval-only                 # evaluate the shipped assets/models/a2f.onnx
    nice -n 19 .venv/bin/python -m tools.train_a2f --future 2 --out data/a2f/future-2.onnx   # another look-ahead

Training mixes the synthetic voices ("train" shards) with the human recordings of the training speakers
("train_human"). Metrics are measured on the exported ONNX file (what the server runs) on data never trained on:
synthetic sentences never spoken in training (training voices, and voices never heard), and the held-out human
speakers (all of Allison Smith's recordings, and Menardi). Synthetic sets: Pearson r and error at video-frame
centres, every frame. Human sets: the voice-mode figures of tools.a2f_metrics (speech-only r at lag 0, best
lag, closure AUC) on every 10 ms mel frame, and the mouth in the silence around speech.

`--future` sets the look-ahead in mel frames (10 ms each); the server runs engines.face.features.FUTURE.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from engines.face.backends.base import DEFAULT_MODEL, INPUT_NAME, OUTPUT_NAME
from engines.face.features import FUTURE, MELS_PER_VIDEO_FRAME, PAST
from engines.face.model import AudioToFace, count_parameters
from engines.timebase import MOUTH_PARAMS
from tools import a2f_metrics
from tools.export_onnx import export_onnx, max_export_error
from tools.human_corpus import HELD_OUT_SPEAKERS
from tools.make_dataset import DATA_DIR, DATA_FUTURE, TIMELINE_RATE, timeline_example

log = logging.getLogger(__name__)
JAW = MOUTH_PARAMS.index("jaw_open")
TRAIN_SPLITS = ("train", "train_human")
GATES = {"test_seen_voices": 0.8, "test_held_out_voice": 0.7}
SYNTHETIC = (*GATES, "test_seen_voices_augmented", "test_festival_ked")
HUMAN = (*(f"test_human_{s}" for s in HELD_OUT_SPEAKERS), "test_human_allison-en_augmented")
SILENT_JAW = 0.1  # the most jaw opening that still reads as a closed mouth
MEL_MS = 10.0
EVAL_BATCH = 1024  # offline evaluation: the batch axis is dynamic, larger batches than the server's are fine
Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class Split:
    """All windows of one split: window i starts at mel[starts[i]], its target is targets[i]."""

    mel: np.ndarray
    starts: np.ndarray
    targets: np.ndarray
    speech: np.ndarray  # the window's centre lies inside a phoneme
    utterance: np.ndarray  # which utterance each window belongs to
    voices: np.ndarray  # the voice id each window was spoken by

    def windows(self, index: np.ndarray, future: int) -> np.ndarray:
        return self.mel[self.starts[index, None] + np.arange(PAST + 1 + future)].astype(np.float32)

    @property
    def video_frame(self) -> np.ndarray:
        """True where the window is centred on a video frame (every 4th mel frame of the utterance)."""
        first = np.r_[True, self.utterance[1:] != self.utterance[:-1]]
        position = np.arange(len(self.utterance)) - np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))
        return position % MELS_PER_VIDEO_FRAME == MELS_PER_VIDEO_FRAME // 2


def load_split(name: str, data_dir: Path) -> Split:
    shards = sorted(data_dir.glob(f"{name}-*.npz"))
    if not shards:
        raise SystemExit(f"no {name} shards in {data_dir}; run tools.make_dataset first")
    mels, starts, targets, speech, utterance, voices = [], [], [], [], [], []
    rows = count = 0
    for shard in shards:
        data = np.load(shard)
        if int(data["future"]) != DATA_FUTURE:
            raise SystemExit(f"{shard} was built with another look-ahead; rebuild the data set")
        mel_off, tgt_off = data["mel_offsets"], data["target_offsets"]
        for u in range(len(mel_off) - 1):
            n = tgt_off[u + 1] - tgt_off[u]
            starts.append(rows + mel_off[u] + np.arange(n))
            utterance.append(np.full(n, count))
            voices.append(np.full(n, data["voices"][u]))
            count += 1
        mels.append(data["mel"])
        targets.append(data["targets"])
        speech.append(data["speech"])
        rows += len(data["mel"])
    return Split(np.concatenate(mels), np.concatenate(starts), np.concatenate(targets).astype(np.float32),
                 np.concatenate(speech), np.concatenate(utterance), np.concatenate(voices))


def merge(splits: list[Split]) -> Split:
    offsets = np.cumsum([0] + [len(s.mel) for s in splits[:-1]])
    utterances = np.cumsum([0] + [int(s.utterance.max()) + 1 for s in splits[:-1]])
    return Split(np.concatenate([s.mel for s in splits]),
                 np.concatenate([s.starts + o for s, o in zip(splits, offsets)]),
                 np.concatenate([s.targets for s in splits]), np.concatenate([s.speech for s in splits]),
                 np.concatenate([s.utterance + u for s, u in zip(splits, utterances)]),
                 np.concatenate([s.voices for s in splits]))


def onnx_predictor(model_path: Path) -> tuple[Predict, int]:
    """The exported model's forward pass and its look-ahead in mel frames. One thread: on a shared machine a
    second one mostly spins waiting for a core."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    future = session.get_inputs()[0].shape[1] - PAST - 1
    return (lambda mel: session.run([OUTPUT_NAME], {INPUT_NAME: mel})[0]), future


def predict_all(predict: Predict, split: Split, index: np.ndarray, future: int) -> np.ndarray:
    return np.concatenate([predict(split.windows(index[i : i + EVAL_BATCH], future))
                           for i in range(0, len(index), EVAL_BATCH)])


def silence_prediction(predict: Predict, future: int) -> dict[str, float]:
    """Jaw opening for digital silence and for faint room noise, each two seconds long."""
    rng = np.random.default_rng(0)
    quiet = (rng.standard_normal(2 * TIMELINE_RATE) * 30).astype(np.int16)  # about -60 dBFS
    result = {}
    for name, pcm in (("digital_silence", np.zeros(2 * TIMELINE_RATE, dtype=np.int16)), ("faint_noise", quiet)):
        mel = timeline_example(pcm, []).mel.astype(np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(mel, PAST + 1 + future, axis=0)
        result[f"{name}_max_jaw_open"] = float(predict(np.ascontiguousarray(windows.transpose(0, 2, 1)))[:, JAW].max())
    return result


def evaluate_synthetic(predict: Predict, split: Split, future: int) -> dict[str, float]:
    index = np.flatnonzero(split.video_frame)
    predicted = predict_all(predict, split, index, future)
    target = split.targets[index]
    metrics: dict[str, float] = {"frames": float(len(index))}
    for p, name in enumerate(MOUTH_PARAMS):
        if target[:, p].std() > 1e-6:
            metrics[f"r_{name}"] = a2f_metrics.pearson(predicted[:, p], target[:, p])
        metrics[f"mae_{name}"] = float(np.abs(predicted[:, p] - target[:, p]).mean())
    rest = target.max(axis=1) < 0.02  # frames whose target is the mouth at rest: pauses and the silence around
    metrics["rest_frames_mean_jaw_open"] = float(predicted[rest, JAW].mean())
    voices = split.voices[index]
    for voice in np.unique(voices):
        mine = voices == voice
        metrics[f"r_jaw_open[{voice}]"] = a2f_metrics.pearson(predicted[mine, JAW], target[mine, JAW])
    return metrics


def evaluate_human(predict: Predict, split: Split, future: int) -> dict[str, float]:
    """Every mel frame (10 ms), so the best lag is found on 10 ms steps."""
    predicted = predict_all(predict, split, np.arange(len(split.starts)), future)
    metrics = a2f_metrics.lip_sync(predicted, split.targets, split.speech, split.utterance, MEL_MS)
    silent = ~split.speech & (split.targets.max(axis=1) < 0.02)
    metrics["silence_mean_jaw_open"] = float(predicted[silent, JAW].mean())
    metrics["silence_p99_jaw_open"] = float(np.percentile(predicted[silent, JAW], 99))
    metrics["utterances"] = float(len(np.unique(split.utterance)))
    return metrics


def train(train_split: Split, future: int, epochs: int, samples_per_epoch: int, batch: int, seed: int) -> AudioToFace:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = AudioToFace(window=PAST + 1 + future)
    sample = train_split.mel[rng.choice(len(train_split.mel), 200_000)].astype(np.float32)
    with torch.no_grad():
        model.set_normalisation(torch.from_numpy(sample.mean(0)), torch.from_numpy(sample.std(0)))
    log.info("model: %d parameters, look-ahead %d mel frames; %d training windows", count_parameters(model), future,
             len(train_split.starts))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    steps = epochs * (samples_per_epoch // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=1.5e-3, total_steps=steps, pct_start=0.1)
    for epoch in range(epochs):
        model.train()
        started, total = time.perf_counter(), 0.0
        order = rng.choice(len(train_split.starts), samples_per_epoch, replace=False)
        for i in range(0, samples_per_epoch - batch + 1, batch):
            index = order[i : i + batch]
            mel = torch.from_numpy(train_split.windows(index, future))
            target = torch.from_numpy(train_split.targets[index])
            loss = torch.nn.functional.mse_loss(torch.sigmoid(model.logits(mel)), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
        log.info("epoch %d/%d: loss %.4f (%.0f s)", epoch + 1, epochs, total / (samples_per_epoch // batch),
                 time.perf_counter() - started)
    return model.eval()


def report(model_path: Path, data_dir: Path, sets: tuple[str, ...]) -> dict[str, dict[str, float]]:
    predict, future = onnx_predictor(model_path)
    results = {name: evaluate_synthetic(predict, load_split(name, data_dir), future) for name in SYNTHETIC
               if name in sets}
    results.update({name: evaluate_human(predict, load_split(name, data_dir), future) for name in HUMAN
                    if name in sets})
    results["silence"] = silence_prediction(predict, future)
    print(f"{model_path}: look-ahead {future} mel frames")
    for name, metrics in results.items():
        print(f"{name}: " + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()))
    if set(GATES) <= set(results):
        passed = all(results[name]["r_jaw_open"] >= gate for name, gate in GATES.items()) and all(
            value < SILENT_JAW for value in (*results["silence"].values(),
                                             results["test_seen_voices"]["rest_frames_mean_jaw_open"])
        )
        print("quality gate:", "PASSED" if passed else "FAILED", f"(r_jaw_open >= {GATES}, silent jaw < {SILENT_JAW})")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--future", type=int, default=FUTURE, help=f"look-ahead in mel frames, at most {DATA_FUTURE}")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--samples-per-epoch", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-only", action="store_true", help="only measure the model at --out")
    parser.add_argument("--sets", nargs="+", choices=(*SYNTHETIC, *HUMAN), default=(*SYNTHETIC, *HUMAN),
                        help="held-out sets to measure (default: all)")
    args = parser.parse_args()
    if not 0 <= args.future <= DATA_FUTURE:
        parser.error(f"--future must be between 0 and {DATA_FUTURE} (the data set's look-ahead)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    if not args.eval_only:
        train_split = merge([load_split(name, args.data) for name in TRAIN_SPLITS])
        samples = min(args.samples_per_epoch, len(train_split.starts))
        model = train(train_split, args.future, args.epochs, samples, args.batch, args.seed)
        torch.save(model.state_dict(), args.data / f"{args.out.stem}.pt")
        export_onnx(model, args.out)
        error = max_export_error(model, args.out)
        log.info("exported %s; max |onnx - torch| = %.1e", args.out, error)
        if error > 1e-4:
            raise SystemExit("ONNX export disagrees with PyTorch")
    results = report(args.out, args.data, tuple(args.sets))
    suffix = "" if set(args.sets) == {*SYNTHETIC, *HUMAN} else "-" + "+".join(sorted(args.sets))
    (args.data / f"metrics-{args.out.stem}{suffix}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
