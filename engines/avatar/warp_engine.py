"""The CPU renderer behind the renderer interface: `AvatarRenderer`'s mesh warp on a pool of worker threads, one
frame per call. OpenCV and NumPy release the GIL, so sessions render in parallel on the cores."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from engines.avatar.base import RendererEngine, RendererOptions, SessionRenderer
from engines.avatar.bundle import AvatarBundle
from engines.avatar.renderer import AvatarRenderer


class WarpSessionRenderer(SessionRenderer):
    def __init__(self, renderer: AvatarRenderer, pool: ThreadPoolExecutor, idle_motion_every: int) -> None:
        self.bundle = renderer.bundle
        self._renderer = renderer
        self._pool = pool
        self._motion_every = idle_motion_every
        self._held: tuple[tuple[int, tuple[float, float]], np.ndarray] | None = None  # (motion frame, gaze), picture

    def _render_yuv(self, frame_index: int, params: np.ndarray, motion_frame: int | None) -> np.ndarray:
        # Converting here costs a tenth of what an encoder's generic conversion from RGB would.
        return cv2.cvtColor(self._renderer.render(frame_index, params, motion_frame), cv2.COLOR_RGB2YUV_I420)

    async def render(self, frame_index: int, params: np.ndarray) -> np.ndarray:
        """At rest (mouth closed, no gesture, eyes open) the head moves every `idle_motion_every` frames; the frames
        between show the same picture, which is not drawn again, unless the eyes glance meanwhile (on time)."""
        loop = asyncio.get_running_loop()
        idle = self._renderer.idle
        resting = self._motion_every > 1 and not np.any(params) and idle.blink(frame_index) == 0
        if not resting:
            self._held = None
            return await loop.run_in_executor(self._pool, self._render_yuv, frame_index, params, None)
        motion_frame = frame_index - frame_index % self._motion_every
        key = (motion_frame, idle.gaze(frame_index))
        if self._held is None or self._held[0] != key:
            picture = await loop.run_in_executor(self._pool, self._render_yuv, frame_index, params, motion_frame)
            self._held = (key, picture)
        return self._held[1]


class WarpRendererEngine(RendererEngine):
    name = "warp"

    def __init__(self, options: RendererOptions) -> None:
        # Sessions render in parallel on this pool; OpenCV's own threads would only oversubscribe the cores.
        cv2.setNumThreads(1)
        self._pool = ThreadPoolExecutor(max_workers=max(1, options.threads), thread_name_prefix="render")
        self._idle_motion_every = options.idle_motion_every

    def prepare(self, bundle: AvatarBundle) -> None:
        AvatarRenderer(bundle)

    def open(self, bundle: AvatarBundle, seed: int) -> WarpSessionRenderer:
        return WarpSessionRenderer(AvatarRenderer(bundle, seed=seed), self._pool, self._idle_motion_every)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
