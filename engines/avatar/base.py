"""The renderer interface: a session's frames from its avatar bundle and its mouth parameters.

A `RendererEngine` (one per process) owns what every session shares: precomputed rigs, worker threads, perhaps a
GPU and a batch made of all sessions' frames of one tick. It opens one `SessionRenderer` per session (one avatar,
one seed). Rendering is awaited, so an engine may queue the call, batch it with other sessions' calls and answer
later, as the face network's batcher does. Each implementation is one module plus one line in `registry.py`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from engines.avatar.bundle import AvatarBundle


@dataclass(frozen=True)
class RendererOptions:
    threads: int = 2  # CPU worker threads (renderers that run on the CPU)
    device: str = "auto"  # where a tensor renderer runs: auto (a CUDA GPU if there is one), cpu, cuda, cuda:N
    # A face at rest (mouth closed, no blink) moves its head only every this many frames: the drift is a few
    # hundredths of a pixel per frame, so the frames between are the same picture and need not be drawn again.
    idle_motion_every: int = 1


class SessionRenderer(ABC):
    """Frames of one avatar for one session; a pure function of (seed, frame index, parameters)."""

    bundle: AvatarBundle

    @abstractmethod
    async def render(self, frame_index: int, params: np.ndarray) -> np.ndarray:
        """Frame `frame_index` showing `params` (engines/timebase.py: MOUTH_PARAMS, optionally followed by
        GESTURE_PARAMS, which move the head and brows on top of the renderer's idle motion), as planar YUV 4:2:0
        ((height * 3 / 2) x width, uint8): the encoders' own format."""


class RendererEngine(ABC):
    name: str
    device: str = "cpu"  # where it draws, for /healthz (e.g. "cuda:0 (NVIDIA H200)")

    @abstractmethod
    def prepare(self, bundle: AvatarBundle) -> None:
        """Do the per-bundle precomputation now (start-up), not when the first session asks for the avatar."""

    @abstractmethod
    def open(self, bundle: AvatarBundle, seed: int) -> SessionRenderer:
        """A renderer for one session; cheap (the precomputation is shared per bundle)."""

    async def close(self) -> None:
        """Release threads and device memory."""
