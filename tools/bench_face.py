"""Benchmark the audio-to-face backends: latency per batch of 1, 8, 32 and 64 windows on every backend present.

    .venv/bin/python -m tools.bench_face                # prints a markdown table for docs/benchmarks.md

Backends: ONNX Runtime on the CPU (one intra-op thread, as the server runs it), ONNX Runtime CUDA and TensorRT
FP16 where a GPU is present; on a GPU it also checks TensorRT against ONNX Runtime. Also times the streaming
feature extraction per video frame (CPU, every session, whatever the backend) and the whole engine: N sessions
each pushing one frame of audio per tick through features, batcher and backend.
"""
from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engines.face.backends.base import (
    DEFAULT_MODEL,
    BackendUnavailable,
    InferenceBackend,
)
from engines.face.backends.onnxruntime_backend import OnnxRuntimeBackend
from engines.face.features import N_MELS, WINDOW, StreamingLogMel
from engines.face.network_driver import NetworkFaceEngine
from engines.timebase import SAMPLES_PER_FRAME

BATCHES = (1, 8, 32, 64)


def time_call(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, p95) seconds of `call` after a few warm-up calls."""
    for _ in range(5):
        call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def available_backends(model: Path) -> tuple[list[InferenceBackend], list[str]]:
    """The backends this machine runs, and a line for each one it cannot, saying why."""
    backends: list[InferenceBackend] = [OnnxRuntimeBackend(model, device="cpu")]
    missing = []
    try:
        backends.append(OnnxRuntimeBackend(model, device="cuda"))
    except BackendUnavailable as error:
        missing.append(f"onnxruntime CUDA: {error}")
    try:
        from engines.face.backends.tensorrt_backend import TensorRTBackend

        backends.append(TensorRTBackend(model))
    except (ImportError, BackendUnavailable) as error:
        missing.append(f"TensorRT: {error}")
    return backends, missing


def feature_cost(repeats: int) -> float:
    """Median seconds to turn one video frame's audio (40 ms at 48 kHz) into mel frames, streaming."""
    rng = np.random.default_rng(0)
    chunk = (rng.standard_normal(SAMPLES_PER_FRAME) * 3000).astype(np.int16)
    stream = StreamingLogMel()
    return time_call(lambda: stream.push(chunk), repeats)[0]


def session_cost(backend: InferenceBackend, sessions: int, ticks: int) -> float:
    """Median seconds per frame per session when `sessions` streams each push one video frame of audio per tick:
    features, batching, worker-thread hop and inference together, as the server pays them."""
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal((sessions, SAMPLES_PER_FRAME)) * 3000).astype(np.int16)

    async def run() -> list[float]:
        engine = NetworkFaceEngine(backend)
        streams = [engine.open_stream() for _ in range(sessions)]
        times = []
        for _ in range(ticks):
            began = time.perf_counter()
            await asyncio.gather(*(stream.push(audio[i]) for i, stream in enumerate(streams)))
            times.append(time.perf_counter() - began)
        engine.batcher.close()
        return times[10:]

    return statistics.median(asyncio.run(run())) / sessions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    backends, missing = available_backends(args.model)
    rng = np.random.default_rng(0)
    windows = {b: (rng.standard_normal((b, WINDOW, N_MELS)) * 3 - 8).astype(np.float32) for b in BATCHES}

    print(f"model {args.model.name}, {platform.processor() or platform.machine()}, {len(backends)} backend(s)\n")
    print("| backend | device | batch | median ms / batch | p95 ms / batch | median ms / frame |")
    print("| --- | --- | --- | --- | --- | --- |")
    for backend in backends:
        for batch in BATCHES:
            median, p95 = time_call(lambda: backend.run(windows[batch]), args.repeats)
            print(f"| {backend.name} | {backend.device} | {batch} | {median * 1e3:.3f} | {p95 * 1e3:.3f} "
                  f"| {median * 1e3 / batch:.3f} |")
    print(f"\nstreaming log-mel features: {feature_cost(args.repeats) * 1e3:.3f} ms per video frame per session")
    for backend in backends:
        for sessions in (1, 8, 32):
            cost = session_cost(backend, sessions, args.repeats)
            print(f"whole face engine, {backend.name} ({backend.device}), {sessions} sessions: "
                  f"{cost * 1e3:.3f} ms per frame per session")
    reference = backends[0]
    for backend in backends[1:]:
        error = max(np.abs(backend.run(windows[b]) - reference.run(windows[b])).max() for b in BATCHES)
        print(f"max |{backend.name} ({backend.device}) - onnxruntime CPU| = {error:.2e}")
    if missing:
        print("\nnot measured here (GPU figures still to be measured on a machine with an NVIDIA GPU):")
        for line in missing:
            print(f"- {line}")


if __name__ == "__main__":
    main()
