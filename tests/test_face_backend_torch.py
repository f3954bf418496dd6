"""The CUDA backend's code path (the ONNX graph on PyTorch) against ONNX Runtime: on PyTorch's CPU device here,
and on CUDA (FP16, CUDA graphs) where a GPU is present (`gpu` marker)."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

from engines.face.backends.base import DEFAULT_MODEL
from engines.face.backends.onnxruntime_backend import OnnxRuntimeBackend
from engines.face.backends.torch_backend import (
    BUCKETS,
    FP16_TOLERANCE,
    TorchBackend,
    probe_batch,
)
from engines.face.batcher import InferenceBatcher
from engines.face.factory import select_backend

BATCHES = [1, 8, 33, 64, 128]


@pytest.fixture(scope="module")
def reference():
    return OnnxRuntimeBackend(DEFAULT_MODEL, device="cpu")


@pytest.mark.parametrize("batch", BATCHES)
def test_fp32_on_the_cpu_device_equals_onnxruntime(reference, batch):
    backend = TorchBackend(DEFAULT_MODEL, device="cpu")
    mel = probe_batch(batch, seed=batch)
    assert backend.precision == "fp32" and backend.name == "torch"
    assert np.abs(backend.run(mel) - reference.run(mel)).max() < 1e-5


def test_fp16_stays_within_its_tolerance(reference):
    backend = TorchBackend(DEFAULT_MODEL, device="cpu", fp16=True)
    mel = probe_batch(64, seed=7)
    assert backend.precision == "fp16"
    assert np.abs(backend.run(mel) - reference.run(mel)).max() < 2 * FP16_TOLERANCE


async def test_batcher_splits_at_the_backend_limit(reference):
    backend = TorchBackend(DEFAULT_MODEL, device="cpu")
    sizes: list[int] = []
    batcher = InferenceBatcher(backend, on_batch=lambda size, seconds: sizes.append(size))
    mel = probe_batch(300, seed=3)
    try:
        outputs = await asyncio.gather(batcher.infer(mel[:150]), batcher.infer(mel[150:]))
    finally:
        batcher.close()
    assert sizes == [BUCKETS[-1], BUCKETS[-1], 300 - 2 * BUCKETS[-1]]
    assert np.abs(np.concatenate(outputs) - reference.run(mel)).max() < 1e-5


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_without_a_gpu_cuda_falls_back_to_onnxruntime_and_says_why():
    backend, note = select_backend("cuda", DEFAULT_MODEL)
    assert backend.name == "onnxruntime" and "PyTorch CUDA unavailable" in note
    backend, note = select_backend("auto", DEFAULT_MODEL)
    assert backend.name == "onnxruntime" and "TensorRT" in note and "PyTorch CUDA" in note


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")
@pytest.mark.parametrize("batch", BATCHES)
def test_cuda_graphs_agree_with_onnxruntime(reference, batch):
    backend = TorchBackend(DEFAULT_MODEL, device="cuda")
    mel = probe_batch(batch, seed=batch)
    assert backend.name == "cuda"
    tolerance = 2 * FP16_TOLERANCE if backend.precision == "fp16" else 1e-4
    assert np.abs(backend.run(mel) - reference.run(mel)).max() < tolerance
    assert select_backend("auto", DEFAULT_MODEL)[0].name in ("tensorrt", "cuda")
