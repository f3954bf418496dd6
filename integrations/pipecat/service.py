"""The avatar in the bot's own process: Pipecat's TTS audio drives the project's face network and renderer through
an audio-mode session pipeline (no avatar server). One `AvatarRuntime` per process serves every bot's avatar."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import numpy as np

from engines.timebase import SAMPLES_PER_FRAME, TIMELINE_RATE
from integrations.media import media_units, rgb
from integrations.pipecat.base import AvatarServiceBase, Picture
from integrations.runtime import AvatarRuntime
from server.pipeline.bus import Subscription
from server.pipeline.session import SessionPipeline


class AvatarVideoService(AvatarServiceBase):
    """`runtime`: the engines to run on (built here when not given; share one between the bots of a process).
    `avatar`: a committed avatar or a bundle folder (default: the runtime's)."""

    def __init__(self, *, runtime: AvatarRuntime | None = None, avatar: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._owns_runtime = runtime is None
        self._runtime = runtime or AvatarRuntime()
        self._bundle = self._runtime.avatar(avatar)
        self._session: SessionPipeline | None = None
        self._subscription: Subscription | None = None
        self._sent_until = 0  # timeline sample after the last audio pushed downstream

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the pictures: the output transport's video_out_width and video_out_height."""
        return self._bundle.size

    @property
    def session(self) -> SessionPipeline | None:
        """The avatar's session pipeline while the service runs (events, metrics, state)."""
        return self._session

    async def open_avatar(self) -> None:
        self._session = self._runtime.open(self._bundle)
        self._subscription = self._session.subscribe()
        self._session.start()

    async def close_avatar(self) -> None:
        if self._session is not None:
            self._subscription.close()
            await self._session.close()
            self._session = None
        if self._owns_runtime:
            await self._runtime.close()

    def speak(self, pcm48: np.ndarray, context_id: str | None) -> None:
        self._session.audio(pcm48, context_id)

    def end_utterance(self) -> None:
        self._session.flush()

    def interrupt_avatar(self) -> None:
        self._session.interrupt(asyncio.get_running_loop().time())

    def mark(self) -> Callable[[], bool]:
        played_out = self._session.audio_speaker.mark()
        return lambda: played_out.done() and played_out.result() <= self._sent_until

    async def pictures(self) -> AsyncIterator[Picture]:
        async for unit in media_units(self._subscription):
            self._sent_until = unit.audio_end
            yield Picture(rgb(unit.video), unit.video.index * SAMPLES_PER_FRAME / TIMELINE_RATE, unit.pcm)
