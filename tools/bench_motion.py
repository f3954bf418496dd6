"""Head, brow and mouth motion of rendered avatar frames driven by real TTS speech, measured on the pixels.

    .venv/bin/python tools/bench_motion.py speech --out /tmp/speech.npz      # piper speech -> mouth + gestures
    .venv/bin/python tools/bench_motion.py measure /tmp/speech.npz [--avatar astronaut]

`speech` synthesizes about 30 s of talk with pauses (piper "joe"), places it on a 48 kHz timeline, and runs the
audio-to-face network (ONNX Runtime, CPU) and, where the tree has one, the speech-gesture stream over it, exactly
as a session would. `measure` renders those frames with whatever tree's renderer is first on the path (so a
tree before a change can render the same parameters: `cd OLD_TREE && PYTHONPATH=. python NEW_TREE/tools/...`),
and an idle stretch of the same length, then measures:

- head motion: the shift of a forehead-and-eyes band (phase correlation against the rest frame; the mouth cannot
  move those pixels, unlike face-mesh landmarks of the upper face, which shift when the jaw opens): mean speed
  speaking and idle, and the correlation of its speed with the speech loudness envelope (both smoothed 200 ms);
- brow motion: the vertical shift of a band across the brows minus that of a band under the eyes (the head's
  own motion), against the same frame of the idle run; and its largest value per word, for the loudest quarter of
  the words (piper's word timings) against the others;
- the inner-lip gap (the opening polygon the renderer fills, at the mouth's middle) over face height, while
  speaking: median and p95;
- render time per frame (process CPU, OpenCV on one thread) over the talking frames.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

SENTENCES = (
    "Good morning, and thank you all for coming today.",
    "I want to tell you about something that really matters.",
    "Last year, we doubled the size of our team.",
    "But that is not the whole story.",
    "What surprised me most was how quickly everyone adapted!",
    "Can you imagine doing that in just three months?",
    "We learned a lot, and we made mistakes along the way.",
    "So here is what we are going to do next.",
    "Thank you, and I really look forward to hearing your thoughts.",
)
PAUSES_S = (0.5, 0.9, 0.4, 1.2, 0.6, 1.0, 0.7, 0.8, 0.0)
SMOOTH_FRAMES = 5  # 200 ms
# The timebase both trees share (25 fps on a 48 kHz timeline, five mouth parameters first); written out because
# the tree before engines/timebase.py existed has it elsewhere.
SAMPLES_PER_FRAME = 1920
N_MOUTH = 5


def make_speech(out: Path) -> None:
    from engines.face.factory import create_face_engine
    from engines.resample import resample
    from engines.timebase import TIMELINE_RATE
    from engines.tts.registry import build_engine

    tts = build_engine("piper")
    pieces = [np.zeros(TIMELINE_RATE, np.int16)]
    words = []  # (start, end) in timeline seconds
    for text, pause in zip(SENTENCES, PAUSES_S):
        speech = tts.synthesize(text)
        offset = sum(map(len, pieces)) / TIMELINE_RATE
        words += [(offset + w.start, offset + w.end) for w in speech.words]
        pieces += [resample(speech.pcm, speech.sample_rate, TIMELINE_RATE), np.zeros(int(pause * TIMELINE_RATE), np.int16)]
    pcm = np.concatenate(pieces + [np.zeros(TIMELINE_RATE, np.int16)])
    frames = len(pcm) // SAMPLES_PER_FRAME

    async def mouth() -> np.ndarray:
        engine = create_face_engine("network", "onnxruntime")
        stream = engine.open_stream()
        got = [await stream.push(pcm[i: i + 9600]) for i in range(0, len(pcm), 9600)]
        got.append(await stream.flush())
        await engine.close()
        return np.concatenate([g.params for g in got])[:frames]

    params = asyncio.run(mouth())
    if importlib.util.find_spec("engines.face.gestures"):
        from engines.face.gestures import GestureStream

        stream = GestureStream(seed=1)
        got = [stream.push(pcm[i: i + 9600]) for i in range(0, len(pcm), 9600)] + [stream.flush()]
        gestures = np.concatenate([g.params for g in got])
        gestures = np.pad(gestures, ((0, max(0, frames - len(gestures))), (0, 0)))[:frames]
        params = np.concatenate([params, gestures], axis=1)
    np.savez_compressed(out, pcm=pcm, params=params.astype(np.float32), words=np.array(words))
    print(f"wrote {out}: {len(pcm) / TIMELINE_RATE:.1f} s, {frames} frames, {params.shape[1]} parameters per frame")


def bands(bundle) -> dict[str, tuple[slice, slice]]:
    """Rows and columns of the forehead-and-eyes band, the brow band and the band under the eyes (frame pixels):
    the brows' own motion is theirs less the head's, read below the eyes where neither blinks nor glances
    change the pixels."""
    from engines.avatar import face_topology as topo

    lm = bundle.landmarks[:, :2]
    eyes = np.array(bundle.eye_boxes)
    x0, x1 = int(eyes[:, 0].min()), int(eyes[:, 2].max())
    top = int(lm[topo.FOREHEAD_TOP, 1])
    eye_bottom = int(eyes[:, 3].max())
    face_h = int(lm[topo.CHIN, 1] - lm[topo.FOREHEAD_TOP, 1])
    brow = lm[[70, 63, 105, 66, 107, 300, 293, 334, 296, 336], 1]
    return {
        "head": (slice(top, eye_bottom + 4), slice(x0, x1)),
        "brow": (slice(int(brow.min()) - 6, int(brow.max()) + 4), slice(x0, x1)),
        "under_eyes": (slice(eye_bottom + 4, eye_bottom + face_h // 6), slice(x0, x1)),
    }


def shifts(frames: list[np.ndarray], region: tuple[slice, slice]) -> np.ndarray:
    """(frames, 2) shift of a region against the first frame, by phase correlation (sub-pixel)."""
    def grey(image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(np.ascontiguousarray(image[region]), cv2.COLOR_RGB2GRAY).astype(np.float64)

    reference = grey(frames[0])
    window = cv2.createHanningWindow(reference.shape[::-1], cv2.CV_64F)
    return np.array([cv2.phaseCorrelate(reference, grey(f), window)[0] for f in frames])


def smooth(x: np.ndarray) -> np.ndarray:
    return np.convolve(x, np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES, mode="same")


def measure(path: Path, avatar: str) -> None:
    from engines.avatar import AvatarRenderer, load_avatar
    from engines.avatar import face_topology as topo

    data = np.load(path)
    pcm, params = data["pcm"], data["params"]
    cv2.setNumThreads(1)
    bundle = load_avatar(avatar)
    n = len(params)
    loud = np.sqrt(np.mean(pcm[: n * SAMPLES_PER_FRAME].astype(np.float64).reshape(n, -1) ** 2, axis=1))
    speaking = loud > 0.02 * loud.max()
    face_h = float(np.linalg.norm(bundle.landmarks[topo.CHIN, :2] - bundle.landmarks[topo.FOREHEAD_TOP, :2]))

    talk = AvatarRenderer(bundle, seed=1)
    talking, cpu = [], 0.0
    for i, p in enumerate(params):
        c0 = time.process_time()
        talking.append(talk.render(i, p))
        cpu += time.process_time() - c0
    idle_renderer = AvatarRenderer(bundle, seed=1)
    rest = np.zeros(N_MOUTH, np.float32)
    idle = [idle_renderer.render(i, rest) for i in range(n)]

    regions = bands(bundle)
    head_t, head_i = shifts(talking, regions["head"]), shifts(idle, regions["head"])
    speed_t = np.linalg.norm(np.diff(head_t, axis=0), axis=1)
    speed_i = np.linalg.norm(np.diff(head_i, axis=0), axis=1)
    envelope = smooth(loud)[1:]
    correlation = float(np.corrcoef(smooth(speed_t), envelope)[0, 1])
    brow_t = shifts(talking, regions["brow"])[:, 1] - shifts(talking, regions["under_eyes"])[:, 1]
    brow_i = shifts(idle, regions["brow"])[:, 1] - shifts(idle, regions["under_eyes"])[:, 1]
    lift = brow_i - brow_t  # up, against the same frame of the idle run (same seed: the same idle motion)
    word_lift, word_loud = [], []
    for start, end in data["words"]:
        frames = slice(int(start * 25), int(end * 25) + 6)  # the word and 200 ms after it
        word_lift.append(lift[frames].max())
        word_loud.append(loud[frames].max())
    word_lift, word_loud = np.array(word_lift), np.array(word_loud)
    emphasized = word_loud >= np.percentile(word_loud, 75)

    def gap(i: int, p: np.ndarray) -> float:
        polygon = talk.opening(i, p)
        upper, lower = polygon[len(topo.LIP_UPPER_INNER) // 2], polygon[len(topo.LIP_UPPER_INNER) + 4]
        return float(np.linalg.norm(lower - upper)) / face_h

    gaps = np.array([gap(int(i), params[i]) for i in np.flatnonzero(speaking)])
    rest_gap = gap(0, np.zeros(N_MOUTH, np.float32))
    sp = speaking[1:]
    print(f"avatar {avatar}, {n} frames ({n / 25:.1f} s, {speaking.mean():.0%} speaking), "
          f"{params.shape[1]} parameters per frame")
    print(f"head speed (px/frame, forehead-and-eyes band): speaking {speed_t[sp].mean():.3f}, pauses "
          f"{speed_t[~sp].mean():.3f}, idle run {speed_i.mean():.3f}; speaking / idle {speed_t[sp].mean() / speed_i.mean():.1f}x")
    print(f"head travel (px): talking run range x {np.ptp(head_t[:, 0]):.1f} y {np.ptp(head_t[:, 1]):.1f}; "
          f"idle run range x {np.ptp(head_i[:, 0]):.1f} y {np.ptp(head_i[:, 1]):.1f}")
    print(f"correlation of head speed with the loudness envelope (200 ms smoothing): {correlation:.2f}")
    print(f"brow lift (px, brows against the band under the eyes, over the idle run's): p95 speaking "
          f"{np.percentile(lift[speaking], 95):.2f}, pauses {np.percentile(lift[~speaking], 95):.2f}; frames over 1 px "
          f"{(lift > 1).sum()}; largest lift per word: loudest quarter of the {len(word_lift)} words (emphasized) mean "
          f"{word_lift[emphasized].mean():.2f}, the other words {word_lift[~emphasized].mean():.2f}")
    print(f"inner-lip gap / face height while speaking: median {np.median(gaps):.3f}, p95 {np.percentile(gaps, 95):.3f}, "
          f"max {gaps.max():.3f}; at rest {rest_gap:.3f}, so the opening beyond rest: median "
          f"{np.median(gaps) - rest_gap:.3f}, p95 {np.percentile(gaps, 95) - rest_gap:.3f}")
    print(f"render CPU over the talking frames: {cpu * 1e3 / n:.2f} ms/frame")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("speech")
    make.add_argument("--out", type=Path, required=True)
    run = sub.add_parser("measure")
    run.add_argument("speech", type=Path)
    run.add_argument("--avatar", default="astronaut")
    args = parser.parse_args()
    if args.command == "speech":
        make_speech(args.out)
    else:
        measure(args.speech, args.avatar)
    return 0


if __name__ == "__main__":
    sys.exit(main())
