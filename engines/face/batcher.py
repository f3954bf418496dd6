"""Merges the inference requests of all sessions into as few backend calls as possible.

Every session's stream asks for its frames with `await batcher.infer(windows)`. Requests made in the same
event-loop tick are gathered (the flush is scheduled with `call_soon`, which runs after every callback already
due), and requests arriving while a batch is running wait and go together into the next one. The backend runs in
one worker thread so the loop keeps pacing audio and video meanwhile.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

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
        self._pending: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = []
        self._flush_scheduled = False
        self._draining = False

    async def infer(self, windows: np.ndarray) -> np.ndarray:
        """(n, WINDOW, N_MELS) -> (n, N_PARAMS); n may be 0."""
        if len(windows) == 0:
            return np.zeros((0, N_PARAMS), dtype=np.float32)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append((windows, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._start_drain)
        return await future

    def _start_drain(self) -> None:
        self._flush_scheduled = False
        if not self._draining:  # a running drain picks the new requests up when its batch is done
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
                requests, self._pending = self._pending, []
                try:
                    outputs = await self._run_all(np.concatenate([w for w, _ in requests]))
                except Exception as error:  # every waiting session learns of the failure, none hangs
                    for _, future in requests:
                        if not future.done():
                            future.set_exception(error)
                    continue
                start = 0
                for windows, future in requests:
                    if not future.done():  # a session may have been cancelled while it waited
                        future.set_result(outputs[start : start + len(windows)])
                    start += len(windows)
        finally:
            self._draining = False

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
