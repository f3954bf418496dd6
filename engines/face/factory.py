"""Builds the process's FaceEngine from configuration (`--face-driver`, `--face-backend`).

`auto` takes the fastest backend this machine can run: TensorRT on a GPU, then PyTorch on CUDA (the `cuda`
backend), then ONNX Runtime (with CUDA where its build has it, else on the CPU). Every step down is logged with
its reason and kept on the engine (`note`) for /healthz.
"""
from __future__ import annotations

import logging
from pathlib import Path

from engines.face.backends.base import (
    BACKENDS,
    DEFAULT_MODEL,
    BackendUnavailable,
    InferenceBackend,
)
from engines.face.backends.onnxruntime_backend import OnnxRuntimeBackend
from engines.face.base import FaceEngine
from engines.face.batcher import BatchHook
from engines.face.network_driver import NetworkFaceEngine

log = logging.getLogger(__name__)
DRIVERS = ("network", "phonemes")


def load_tensorrt(model_path: Path) -> InferenceBackend:
    """TensorRT, or BackendUnavailable saying what is missing or what failed."""
    try:
        from engines.face.backends.tensorrt_backend import TensorRTBackend
    except ImportError as error:
        raise BackendUnavailable(f"TensorRT is not installed ({error})") from error
    try:
        return TensorRTBackend(model_path)
    except RuntimeError as error:  # engine build or load failed: a working CPU face beats no face
        raise BackendUnavailable(str(error)) from error


def load_cuda(model_path: Path) -> InferenceBackend:
    """The ONNX graph on PyTorch's CUDA device, or BackendUnavailable saying what is missing."""
    try:
        from engines.face.backends.torch_backend import TorchBackend
    except ImportError as error:
        raise BackendUnavailable(f"PyTorch is not installed ({error})") from error
    return TorchBackend(model_path, device="cuda")


_GPU_LOADERS = {"tensorrt": ("TensorRT", load_tensorrt), "cuda": ("PyTorch CUDA", load_cuda)}


def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA driver exposes a GPU here. `auto` asks this before it imports TensorRT or PyTorch only to
    learn that there is none: the import alone costs a process about 200 MB."""
    return any(Path("/dev").glob("nvidia[0-9]*"))


def select_backend(backend: str, model_path: Path) -> tuple[InferenceBackend, str | None]:
    """The backend to use and, when it is not the one asked for (or not the fastest), why."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown face backend {backend!r}; choose from {', '.join(BACKENDS)}")
    reasons = []
    gpu = backend != "auto" or nvidia_gpu_present()
    for name, (label, load) in _GPU_LOADERS.items():
        if backend not in ("auto", name):
            continue
        if not gpu:
            reasons.append(f"{label} unavailable: no NVIDIA GPU (no /dev/nvidia* device)")
            log.info(reasons[-1])
            continue
        try:
            return load(model_path), "; ".join(reasons) or None
        except BackendUnavailable as error:
            reasons.append(f"{label} unavailable: {error}")
            log.log(logging.WARNING if backend == name else logging.INFO, reasons[-1])
    chosen = OnnxRuntimeBackend(model_path)
    if backend != "onnxruntime":
        reasons.append("using ONNX Runtime")
    if backend == "auto" and chosen.device != "CUDAExecutionProvider":
        reasons.append("no CUDA provider, so on the CPU")
    return chosen, "; ".join(reasons) or None


def create_face_engine(
    driver: str = "network",
    backend: str = "auto",
    model_path: Path = DEFAULT_MODEL,
    on_batch: BatchHook | None = None,
) -> FaceEngine:
    """The engine every session's face stream comes from. `on_batch(size, seconds)` sees each inference call."""
    if driver == "phonemes":
        from engines.face.phoneme_driver import PhonemeFaceEngine

        return PhonemeFaceEngine()
    if driver != "network":
        raise ValueError(f"unknown face driver {driver!r}; choose from {', '.join(DRIVERS)}")
    chosen, note = select_backend(backend, model_path)
    engine = NetworkFaceEngine(chosen, on_batch=on_batch, note=note)
    log.info("face engine: network on %s (%s)%s", engine.backend, engine.device, f"; {note}" if note else "")
    return engine
