"""ONNX Runtime backend: CUDA when the installed build and the machine have it, else the CPU."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engines.face.backends.base import (
    INPUT_NAME,
    OUTPUT_NAME,
    BackendUnavailable,
    InferenceBackend,
    model_window,
)

log = logging.getLogger(__name__)
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


class OnnxRuntimeBackend(InferenceBackend):
    name = "onnxruntime"

    def __init__(self, model_path: Path, device: str = "auto") -> None:
        """device: "auto" (CUDA if present), "cuda" (raises BackendUnavailable without it) or "cpu"."""
        has_cuda = CUDA in ort.get_available_providers()
        if device == "cuda" and not has_cuda:
            raise BackendUnavailable("onnxruntime has no CUDAExecutionProvider here (CPU-only build or no GPU)")
        providers = [CUDA, CPU] if has_cuda and device != "cpu" else [CPU]
        self.window = model_window(model_path)
        options = ort.SessionOptions()
        # One thread per inference: sessions on a small box share the cores with rendering and encoding, and
        # batching, not intra-op parallelism, is what makes many sessions cheap.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(model_path), options, providers=providers)
        self.device = self._session.get_providers()[0]
        if device == "cuda" and self.device != CUDA:
            raise BackendUnavailable("onnxruntime could not start its CUDA provider; see its log for why")
        log.info("onnxruntime backend on %s (%s)", self.device, model_path)

    def run(self, mel: np.ndarray) -> np.ndarray:
        (params,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(mel, dtype=np.float32)})
        return params
