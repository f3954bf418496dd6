"""What every backend offers the batcher: one blocking call from a batch of mel windows to mouth parameters."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import onnx

from assets import model_path
from engines.face.features import N_MELS, PAST

INPUT_NAME = "mel"  # (batch, WINDOW, N_MELS) float32 log-mel
OUTPUT_NAME = "params"  # (batch, N_PARAMS) float32 in [0, 1]
# What --face-backend may name; auto takes the fastest present, in this order after itself.
BACKENDS = ("auto", "tensorrt", "cuda", "onnxruntime")
MAX_BATCH = 64  # the TensorRT optimisation profile's upper bound, and the default batch limit of a backend
DEFAULT_MODEL = model_path("a2f.onnx")
# Voice mode's network: the same features with 23.5 ms of look-ahead instead of 113.5 ms, trained on human speech too
# (docs/model_card.md), so a live voice is held half as long.
VOICE_MODEL = model_path("a2f-voice.onnx")


def model_window(path: Path) -> int:
    """Mel frames per window of the network in `path` (PAST of context, the centre, then its look-ahead), read
    from its input; a file that takes other features is refused here, before any backend loads it."""
    graph = onnx.load(str(path), load_external_data=False).graph
    (mel,) = [i for i in graph.input if i.name == INPUT_NAME] or [None]
    dims = [d.dim_value for d in mel.type.tensor_type.shape.dim] if mel is not None else []
    if len(dims) != 3 or dims[2] != N_MELS or dims[1] < PAST + 1:
        raise ValueError(f"{path} takes {INPUT_NAME!r} of shape {dims or 'none'}; the features give (batch, >= "
                         f"{PAST + 1}, {N_MELS}) log-mel windows")
    return dims[1]


class BackendUnavailable(RuntimeError):
    """This backend cannot run on this machine (no GPU, library missing); the message says why."""


class InferenceBackend(ABC):
    """Runs the network. `run` blocks, so the batcher calls it from a worker thread."""

    name: str  # "onnxruntime", "tensorrt", "cuda" (PyTorch)
    device: str  # where it runs, e.g. "CPUExecutionProvider", "CUDAExecutionProvider", "NVIDIA H100"
    max_batch: int = MAX_BATCH  # the most rows one `run` takes; the batcher splits larger batches
    window: int  # mel frames per window (model_window): PAST + 1 + the network's look-ahead

    @abstractmethod
    def run(self, mel: np.ndarray) -> np.ndarray:
        """(n, window, N_MELS) float32 with 1 <= n <= max_batch -> (n, N_PARAMS) float32."""

    def close(self) -> None:
        """Free sessions and device memory."""
