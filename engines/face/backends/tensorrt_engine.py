"""Building TensorRT engines from the ONNX model and caching them.

An engine is only valid for the GPU model and TensorRT version that built it, and only for the weights it was
built from, so the cache file name carries all three. Needs `tensorrt` (10.x) and torch with CUDA.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

import tensorrt as trt
import torch

from engines.face.backends.base import (
    INPUT_NAME,
    MAX_BATCH,
    BackendUnavailable,
    model_window,
)
from engines.face.features import N_MELS

log = logging.getLogger(__name__)
TRT_LOGGER = trt.Logger(trt.Logger.WARNING)
# Built engines are machine-specific, so they live in the user's cache, never beside the shipped model.
_CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
DEFAULT_CACHE = Path(os.environ.get("AVATAR_TRT_CACHE") or _CACHE_HOME / "streaming-avatar" / "trt")
OPT_BATCH = 16


def gpu_name() -> str:
    if not torch.cuda.is_available():
        raise BackendUnavailable("no CUDA GPU visible to torch")
    return torch.cuda.get_device_name(0)


def model_hash(onnx_path: Path) -> str:
    return hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:16]


def engine_path(onnx_path: Path, cache_dir: Path = DEFAULT_CACHE, fp16: bool = True) -> Path:
    """Cache location keyed by GPU name, TensorRT version, model hash and precision."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name()).strip("-")
    precision = "fp16" if fp16 else "fp32"
    return cache_dir / f"{onnx_path.stem}-{model_hash(onnx_path)}-{gpu}-trt{trt.__version__}-{precision}.engine"


def build_engine(onnx_path: Path, out_path: Path, fp16: bool = True) -> Path:
    """Parse the ONNX file and serialise an engine with one optimisation profile over batch 1..MAX_BATCH."""
    builder = trt.Builder(TRT_LOGGER)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, TRT_LOGGER)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 28)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    window = model_window(onnx_path)
    profile.set_shape(
        INPUT_NAME, min=(1, window, N_MELS), opt=(OPT_BATCH, window, N_MELS), max=(MAX_BATCH, window, N_MELS)
    )
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(bytes(serialized))
    log.info("built TensorRT engine %s", out_path)
    return out_path


def cached_engine(onnx_path: Path, cache_dir: Path = DEFAULT_CACHE, fp16: bool = True) -> Path:
    """The engine for this GPU, TensorRT and model, built once (about a minute) and reused afterwards."""
    path = engine_path(onnx_path, cache_dir, fp16)
    if path.exists():
        return path
    log.info("no cached TensorRT engine for %s on this GPU; building %s", onnx_path.name, path.name)
    return build_engine(onnx_path, path, fp16)
