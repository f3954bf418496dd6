"""TensorRT backend: a prebuilt engine run on one CUDA stream with device buffers allocated once.

Input and output live on the GPU for the whole process (torch CUDA tensors); each call copies the batch in
through pinned host memory, enqueues the engine with `execute_async_v3` and copies the result back, so the only
host round trip is the one per batch.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import tensorrt as trt
import torch

from engines.face.backends.base import (
    INPUT_NAME,
    MAX_BATCH,
    OUTPUT_NAME,
    BackendUnavailable,
    InferenceBackend,
    model_window,
)
from engines.face.backends.tensorrt_engine import TRT_LOGGER, cached_engine, gpu_name
from engines.face.features import N_MELS
from engines.timebase import N_PARAMS

log = logging.getLogger(__name__)


class TensorRTBackend(InferenceBackend):
    name = "tensorrt"

    def __init__(self, onnx_path: Path, engine_file: Path | None = None) -> None:
        """Loads `engine_file`, or the cached engine for `onnx_path` on this GPU (building it if needed)."""
        self.device = gpu_name()
        self.window = model_window(onnx_path)
        path = engine_file or cached_engine(onnx_path)
        self._engine = trt.Runtime(TRT_LOGGER).deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise BackendUnavailable(f"TensorRT could not deserialise {path} (built by another version or GPU?)")
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream()
        self._input = torch.empty((MAX_BATCH, self.window, N_MELS), dtype=torch.float32, device="cuda")
        self._output = torch.empty((MAX_BATCH, N_PARAMS), dtype=torch.float32, device="cuda")
        self._host_input = torch.empty(self._input.shape, dtype=torch.float32).pin_memory()
        self._host_output = torch.empty(self._output.shape, dtype=torch.float32).pin_memory()
        # A batch of n is the first n rows of each buffer, so the addresses never change.
        self._context.set_tensor_address(INPUT_NAME, self._input.data_ptr())
        self._context.set_tensor_address(OUTPUT_NAME, self._output.data_ptr())
        log.info("TensorRT backend on %s (%s)", self.device, path)

    def run(self, mel: np.ndarray) -> np.ndarray:
        n = len(mel)
        self._host_input[:n].numpy()[...] = mel
        with torch.cuda.stream(self._stream):
            self._input[:n].copy_(self._host_input[:n], non_blocking=True)
            self._context.set_input_shape(INPUT_NAME, (n, self.window, N_MELS))
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
            self._host_output[:n].copy_(self._output[:n], non_blocking=True)
        self._stream.synchronize()
        return self._host_output[:n].numpy().copy()

    def close(self) -> None:
        self._stream.synchronize()
        del self._context, self._engine
