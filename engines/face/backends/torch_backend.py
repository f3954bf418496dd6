"""The CUDA backend: the ONNX graph on PyTorch (torch_graph.py), in FP16 where it holds accuracy, with one CUDA
graph per batch size so a tick's batch costs one graph launch instead of a kernel launch per layer.

The same code runs on PyTorch's CPU device (no graphs, FP32), which is how CI checks it against ONNX Runtime on a
machine without a GPU; `--face-backend cuda` (or `auto` on a GPU machine without TensorRT) runs it on the GPU.
"""
from __future__ import annotations

import bisect
import logging
from pathlib import Path

import numpy as np
import torch

from engines.face.backends.base import (
    BackendUnavailable,
    InferenceBackend,
    model_window,
)
from engines.face.backends.torch_graph import OnnxGraphModule
from engines.face.features import N_MELS, WINDOW

log = logging.getLogger(__name__)
# Batch sizes with a captured graph; a batch runs in the smallest that holds it (padded with zeros).
BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
# FP16 is kept when its outputs stay this close to FP32's on a probe batch (outputs are in [0, 1]).
FP16_TOLERANCE = 2e-3


def probe_batch(n: int, seed: int = 0, window: int = WINDOW) -> np.ndarray:
    """Log-mel-like windows (around -8, spread 3) for parity checks."""
    return (np.random.default_rng(seed).standard_normal((n, window, N_MELS)) * 3 - 8).astype(np.float32)


class TorchBackend(InferenceBackend):
    max_batch = BUCKETS[-1]

    def __init__(self, model_path: Path, device: str = "cuda", fp16: bool | None = None) -> None:
        """`fp16` None: FP16 on CUDA when it holds accuracy (FP32 otherwise, and always on the CPU)."""
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable("PyTorch sees no CUDA GPU")
        self._device = torch.device(device)
        self.name = "cuda" if self._device.type == "cuda" else "torch"
        self.device = torch.cuda.get_device_name(self._device) if self._device.type == "cuda" else "cpu"
        self.window = model_window(model_path)
        reference = OnnxGraphModule.load(model_path).eval().to(self._device)
        self._model = reference
        self.precision = "fp32"
        if fp16 or (fp16 is None and self._device.type == "cuda"):
            half = OnnxGraphModule.load(model_path).eval().to(self._device).half()
            error = self._max_error(half, reference)
            if fp16 or error <= FP16_TOLERANCE:
                self._model, self.precision = half, "fp16"
            log.info("FP16 against FP32 on a probe batch: max abs error %.2e (%s)", error, self.precision)
        self._dtype = next(self._model.buffers()).dtype
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}
        if self._device.type == "cuda":
            for size in BUCKETS:
                self._graphs[size] = self._capture(size)
        log.info("PyTorch backend on %s, %s, %d CUDA graphs (%s)", self.device, self.precision, len(self._graphs),
                 model_path)

    def _max_error(self, half: OnnxGraphModule, reference: OnnxGraphModule) -> float:
        with torch.inference_mode():
            x = torch.from_numpy(probe_batch(64, window=self.window)).to(self._device)
            return float((half(x.half()).float() - reference(x)).abs().max())

    def _capture(self, size: int) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        """A CUDA graph of the model at batch `size`, with its static input and output tensors."""
        static_in = torch.zeros((size, self.window, N_MELS), dtype=self._dtype, device=self._device)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(stream):
            for _ in range(3):  # warm-up outside the graph (allocator, cuDNN algorithm choice)
                self._model(static_in)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            static_out = self._model(static_in)
        return graph, static_in, static_out

    def run(self, mel: np.ndarray) -> np.ndarray:
        n = len(mel)
        batch = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))
        with torch.inference_mode():
            if not self._graphs:
                return self._model(batch.to(self._device, self._dtype)).float().cpu().numpy()
            graph, static_in, static_out = self._graphs[BUCKETS[bisect.bisect_left(BUCKETS, n)]]
            static_in.zero_()
            static_in[:n].copy_(batch, non_blocking=False)
            graph.replay()
            return static_out[:n].float().cpu().numpy()

    def close(self) -> None:
        self._graphs.clear()
