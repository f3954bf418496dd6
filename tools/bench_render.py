"""Render time per 512x512 avatar frame on one core: idle frames and talking frames (mouth moving every frame).

    .venv/bin/python tools/bench_render.py [--avatar astronaut] [--frames 1500]

Pins OpenCV and BLAS to one thread, as the server does, and reports wall-clock and process CPU time per frame
(CPU time is the steadier figure on a shared machine). Talking frames follow a real sentence's viseme curves and
the head and brow motion its audio drives (engines/face/gestures.py); the gesture stream's own CPU time per frame
is reported too.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.avatar import AvatarRenderer, load_avatar  # noqa: E402
from engines.avatar.prepared import PreparedAvatar  # noqa: E402
from engines.timebase import N_FRAME_PARAMS  # noqa: E402
from harness.speech import talking_params  # noqa: E402


def measure(renderer: AvatarRenderer, params: np.ndarray) -> dict[str, float]:
    for i in range(25):
        renderer.render(i, params[i])
    wall, cpu = [], []
    for i, p in enumerate(params):
        w0, c0 = time.perf_counter(), time.process_time()
        renderer.render(i, p)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    wall_ms = np.array(wall) * 1e3
    return {
        "wall_mean": float(wall_ms.mean()),
        "wall_p50": float(np.percentile(wall_ms, 50)),
        "wall_p95": float(np.percentile(wall_ms, 95)),
        "cpu_mean": float(np.sum(cpu) * 1e3 / len(cpu)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--avatar", default="astronaut")
    parser.add_argument("--frames", type=int, default=1500)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    bundle = load_avatar(args.avatar)
    t0 = time.perf_counter()
    PreparedAvatar(bundle)
    prepare_ms = (time.perf_counter() - t0) * 1e3
    print(f"avatar {args.avatar} {bundle.size[0]}x{bundle.size[1]}: per-bundle precomputation {prepare_ms:.0f} ms")
    sentence, gesture_ms = talking_params()
    talking = np.resize(sentence, (args.frames, N_FRAME_PARAMS))
    print(f"gesture stream: {gesture_ms:.3f} ms CPU per frame")
    cases = {
        "idle": np.zeros((args.frames, N_FRAME_PARAMS), np.float32),
        "talking": talking,
    }
    for name, params in cases.items():
        r = measure(AvatarRenderer(bundle, seed=0), params)
        print(f"{name:8s} {args.frames} frames: wall mean {r['wall_mean']:.2f} ms, p50 {r['wall_p50']:.2f} ms, "
              f"p95 {r['wall_p95']:.2f} ms; CPU {r['cpu_mean']:.2f} ms/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
