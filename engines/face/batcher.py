"""Merges the inference requests of all sessions into as few backend calls as possible.

Every session's stream asks for its frames with `await batcher.infer(windows)`. The requests of one event-loop
tick go together (engines/batching.py), split only where a batch exceeds the backend's largest. The backend runs
in one worker thread so the loop keeps pacing audio and video meanwhile.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engines.batching import TickBatcher
from engines.face.backends.base import InferenceBackend
from engines.timebase import N_PARAMS

BatchHook = Callable[[int, float], None]  # (batch size, inference seconds), called on the event loop


@dataclass
class BatchStats:
    """Running totals for /metrics; `on_batch` gives the per-batch values for histograms."""

    batches: int = 0
    rows: int = 0
    seconds: float = 0.0


class InferenceBatcher:
    def __init__(self, backend: InferenceBackend, on_batch: BatchHook | None = None) -> None:
        self.backend = backend
        self.on_batch = on_batch
        self.stats = BatchStats()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="face-infer")
        self._batcher: TickBatcher[np.ndarray, np.ndarray] = TickBatcher(self._run_requests)

    async def infer(self, windows: np.ndarray) -> np.ndarray:
        """(n, WINDOW, N_MELS) -> (n, N_PARAMS); n may be 0."""
        if len(windows) == 0:
            return np.zeros((0, N_PARAMS), dtype=np.float32)
        return await self._batcher.submit(windows)

    async def _run_requests(self, requests: list[np.ndarray]) -> list[np.ndarray]:
        outputs = await self._run_all(np.concatenate(requests))
        bounds = np.cumsum([len(w) for w in requests])[:-1]
        return np.split(outputs, bounds)

    async def _run_all(self, windows: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        parts = []
        for start in range(0, len(windows), self.backend.max_batch):
            chunk = windows[start : start + self.backend.max_batch]
            began = time.perf_counter()
            parts.append(await loop.run_in_executor(self._executor, self.backend.run, chunk))
            self._record(len(chunk), time.perf_counter() - began)
        return np.concatenate(parts)

    def _record(self, size: int, seconds: float) -> None:
        self.stats.batches += 1
        self.stats.rows += size
        self.stats.seconds += seconds
        if self.on_batch is not None:
            self.on_batch(size, seconds)

    def close(self) -> None:
        """Stop the worker thread; the backend belongs to whoever made it."""
        self._executor.shutdown(wait=True)
