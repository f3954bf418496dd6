"""What every backend offers the batcher: one blocking call from a batch of mel windows to mouth parameters."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from assets import model_path

INPUT_NAME = "mel"  # (batch, WINDOW, N_MELS) float32 log-mel
OUTPUT_NAME = "params"  # (batch, N_PARAMS) float32 in [0, 1]
# What --face-backend may name; auto takes the fastest present, in this order after itself.
BACKENDS = ("auto", "tensorrt", "cuda", "onnxruntime")
MAX_BATCH = 64  # the TensorRT optimisation profile's upper bound, and the default batch limit of a backend
DEFAULT_MODEL = model_path("a2f.onnx")


class BackendUnavailable(RuntimeError):
    """This backend cannot run on this machine (no GPU, library missing); the message says why."""


class InferenceBackend(ABC):
    """Runs the network. `run` blocks, so the batcher calls it from a worker thread."""

    name: str  # "onnxruntime", "tensorrt", "cuda" (PyTorch)
    device: str  # where it runs, e.g. "CPUExecutionProvider", "CUDAExecutionProvider", "NVIDIA H100"
    max_batch: int = MAX_BATCH  # the most rows one `run` takes; the batcher splits larger batches

    @abstractmethod
    def run(self, mel: np.ndarray) -> np.ndarray:
        """(n, WINDOW, N_MELS) float32 with 1 <= n <= max_batch -> (n, N_PARAMS) float32."""

    def close(self) -> None:
        """Free sessions and device memory."""
