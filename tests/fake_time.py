"""A session pipeline on its own, with no network and no transport: frames pulled in fake time (a VirtualClock
that moves only when the test says so), and a renderer that draws nothing but remembers the mouth each video frame
was asked to show."""
from __future__ import annotations

import asyncio
import dataclasses
import logging

import numpy as np

from engines.avatar.base import RendererEngine, SessionRenderer
from engines.avatar.bundle import AvatarBundle
from engines.timebase import (
    AUDIO_FRAME_SAMPLES,
    MOUTH_PARAMS,
    N_FRAME_PARAMS,
    N_PARAMS,
    TIMELINE_RATE,
)
from server.pipeline.bus import Subscription
from server.pipeline.clock import VirtualClock
from server.pipeline.session import SessionPipeline
from server.pipeline.voice_input import VoiceChunk
from server.services import Services

JAW = MOUTH_PARAMS.index("jaw_open")
AUDIO_S = AUDIO_FRAME_SAMPLES / TIMELINE_RATE


class RecordingRenderer(SessionRenderer):
    """Draws nothing; remembers the mouth parameters each frame was asked to show."""

    def __init__(self, bundle: AvatarBundle, shown: dict[int, np.ndarray]) -> None:
        self.bundle = bundle
        self._shown = shown

    async def render(self, frame_index: int, params: np.ndarray) -> np.ndarray:
        self._shown[frame_index] = np.array(params)
        width, height = self.bundle.size
        return np.zeros((height * 3 // 2, width), np.uint8)


class RecordingEngine(RendererEngine):
    name = "recording"

    def __init__(self) -> None:
        self.shown: dict[int, np.ndarray] = {}

    def prepare(self, bundle: AvatarBundle) -> None:
        pass

    def open(self, bundle: AvatarBundle, seed: int) -> RecordingRenderer:
        return RecordingRenderer(bundle, self.shown)


class Run:
    """A pipeline (text mode unless told otherwise; voice mode with a `live_voice` that arrives as session time
    passes), its one subscriber, and the fake clock that drives it. `draw`: frames come from the services' own
    renderer instead of the recording one (whose shown parameters `jaw` and `gestures` read)."""

    def __init__(self, services: Services, live_voice: np.ndarray | None = None, draw: bool = False, **mode) -> None:
        if live_voice is not None:
            mode["voice_input"] = self._arriving(live_voice)
        self.renderer = RecordingEngine()
        resources = services.pipeline if draw else dataclasses.replace(services.pipeline, renderers=self.renderer)
        self.clock = VirtualClock()
        self.pipeline = SessionPipeline(
            resources,
            avatar=services.default_avatar,
            log=logging.LoggerAdapter(logging.getLogger("test"), {}),
            clock=self.clock,
            **mode,
        )
        self.events: list[tuple[float, dict]] = []
        self.pipeline.events.listen(lambda event: self.events.append((self.clock.now(), event)))
        self.subscription: Subscription = self.pipeline.subscribe()
        self.audio: list = []
        self.video: list = []
        self.pipeline.start()

    async def run_until(self, seconds: float) -> None:
        """Move session time to `seconds` in 20 ms steps, taking every frame due on the way."""
        while self.clock.now() + AUDIO_S / 2 < seconds:
            await self.step()

    async def step(self) -> None:
        """Move session time on by one audio frame and take the frames due."""
        self.clock.advance_to(self.clock.now() + AUDIO_S)
        async with asyncio.timeout(10):
            while len(self.audio) * AUDIO_S <= self.clock.now():
                self.audio.append(await self.subscription.audio())
            while len(self.video) * 0.04 <= self.clock.now():
                self.video.append(await self.subscription.video())

    async def _arriving(self, pcm: np.ndarray):
        """A client's voice in 20 ms packets, each arriving when session time reaches it."""
        for k in range(len(pcm) // AUDIO_FRAME_SAMPLES):
            await self.clock.sleep_until((k + 1) * AUDIO_S)
            yield VoiceChunk(k * AUDIO_FRAME_SAMPLES, pcm[k * AUDIO_FRAME_SAMPLES: (k + 1) * AUDIO_FRAME_SAMPLES])

    def types(self) -> list[str]:
        return [event["type"] for _, event in self.events]

    def jaw(self, frame: int) -> float:
        return float(self.renderer.shown[frame][JAW])

    def gestures(self) -> np.ndarray:
        """(frames, N_GESTURES): the head and brow parameters every frame was shown."""
        shown = self.renderer.shown
        assert all(len(shown[n]) == N_FRAME_PARAMS for n in shown)
        return np.array([shown[n][N_PARAMS:] for n in range(len(shown))])

    def pcm(self) -> np.ndarray:
        return np.concatenate([f.pcm for f in self.audio])

    async def close(self) -> None:
        self.subscription.close()
        await self.pipeline.close()
