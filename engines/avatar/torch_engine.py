"""The tensor renderer behind the renderer interface (`--renderer torch`, `--render-device`): the frames that all
sessions ask for in one event-loop tick are drawn together, one batch per avatar, on a PyTorch device (a CUDA GPU
in production; PyTorch's CPU device runs the same code in the tests).

One worker thread plans each frame (frame_plan.py: the same CPU code and masks as the CPU renderer, a small share
of its work), draws the batch on the device (torch_avatar.py), converts it to YUV 4:2:0 there and copies it back
as one block, so the event loop keeps pacing audio and video meanwhile.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    import torch
except ImportError as error:  # the `cuda` extra
    raise ImportError("--renderer torch needs PyTorch: pip install 'streaming-avatar[cuda]'") from error

from engines.avatar.base import RendererEngine, RendererOptions, SessionRenderer
from engines.avatar.bundle import AvatarBundle
from engines.avatar.frame_plan import FramePlanner
from engines.avatar.prepared import prepared
from engines.avatar.torch_avatar import DeviceAvatar
from engines.batching import TickBatcher

log = logging.getLogger(__name__)
# Frames drawn in one pass on the device; a tick with more is drawn in several (at 512x512 a pass of 128 takes
# about 1.5 GB of device memory).
MAX_BATCH = 128
FrameRequest = tuple[FramePlanner, int, np.ndarray]  # (the session's planner, frame index, parameters)


def resolve_device(name: str) -> torch.device:
    """The device `--render-device` names: auto (the first CUDA GPU, else the CPU), cpu, cuda or cuda:N.
    ValueError when it is malformed or not on this machine."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--render-device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"--render-device {name!r}: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"--render-device {name}: PyTorch sees no CUDA GPU (torch {torch.__version__})")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--render-device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return device


class TorchSessionRenderer(SessionRenderer):
    def __init__(self, planner: FramePlanner, engine: TorchRendererEngine) -> None:
        self.bundle = planner.bundle
        self._planner = planner
        self._engine = engine

    async def render(self, frame_index: int, params: np.ndarray) -> np.ndarray:
        return await self._engine.submit((self._planner, frame_index, params))


class TorchRendererEngine(RendererEngine):
    name = "torch"

    def __init__(self, options: RendererOptions) -> None:
        self._device = resolve_device(options.device)
        if self._device.type == "cuda":
            self.device = f"{self._device} ({torch.cuda.get_device_name(self._device)})"
        else:
            self.device = "cpu"
            # PyTorch's own CPU threads take the place of the CPU renderer's pool.
            torch.set_num_threads(max(1, options.threads))
            log.warning("the torch renderer runs on PyTorch's CPU device: the warp renderer is faster there")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-torch")
        self._batcher: TickBatcher[FrameRequest, np.ndarray] = TickBatcher(self._process)
        self._avatars: dict[AvatarBundle, DeviceAvatar] = {}
        self._lock = threading.Lock()
        log.info("torch renderer on %s", self.device)

    def prepare(self, bundle: AvatarBundle) -> None:
        self.device_avatar(bundle)

    def open(self, bundle: AvatarBundle, seed: int) -> TorchSessionRenderer:
        return TorchSessionRenderer(FramePlanner(bundle, seed), self)

    async def submit(self, request: FrameRequest) -> np.ndarray:
        """One session's frame as YUV 4:2:0, drawn in the batch of the tick it was asked for in."""
        return await self._batcher.submit(request)

    async def _process(self, requests: list[FrameRequest]) -> list[np.ndarray]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.render_batch, requests)

    def render_batch(self, requests: list[FrameRequest]) -> list[np.ndarray]:
        """Plan and draw frames of any sessions and avatars: one YUV 4:2:0 array per request, in order."""
        plans = [planner.plan(frame_index, params) for planner, frame_index, params in requests]
        by_bundle: dict[AvatarBundle, list[int]] = {}
        for i, (planner, _, _) in enumerate(requests):
            by_bundle.setdefault(planner.bundle, []).append(i)
        frames: list[np.ndarray] = [np.empty(0, np.uint8)] * len(requests)
        for bundle, members in by_bundle.items():
            avatar = self.device_avatar(bundle)
            for start in range(0, len(members), MAX_BATCH):
                chunk = members[start: start + MAX_BATCH]
                with torch.inference_mode():
                    yuv = avatar.draw([plans[i] for i in chunk]).cpu().numpy()
                for row, i in enumerate(chunk):
                    frames[i] = yuv[row]
        return frames

    def device_avatar(self, bundle: AvatarBundle) -> DeviceAvatar:
        """The bundle's precomputed data on the device, moved there once."""
        with self._lock:
            avatar = self._avatars.get(bundle)
            if avatar is None:
                avatar = self._avatars[bundle] = DeviceAvatar(bundle.image, prepared(bundle), self._device)
            return avatar

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._avatars.clear()
