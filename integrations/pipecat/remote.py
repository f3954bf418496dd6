"""The avatar on a running avatar server (a GPU box, or one server for many bots): the TTS audio goes to it as the
voice of a voice-mode session over WebRTC (the project's client library), and the avatar's audio and video come
back and go downstream as they arrive, each picture with the audio that came since the one before.

Voice mode plays the voice back a fixed delay after it arrives (about 200 ms on a CPU, docs/benchmarks.md), and
the network adds its own: frames held back until the audio before them has played are released `return_delay_s`
after that audio was sent to the server.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import numpy as np
from loguru import logger

from client import AvatarClient, LiveAudioTrack, ReceivedAudio, ReceivedVideo
from engines.timebase import TIMELINE_RATE
from integrations.pipecat.base import AvatarServiceBase, Picture


class RemoteAvatarVideoService(AvatarServiceBase):
    """`url`: the server's websocket (ws://host:8080/ws); `token`: its access token, if it has one; `avatar`: an
    avatar the server offers (default: the server's)."""

    def __init__(
        self,
        *,
        url: str,
        token: str | None = None,
        avatar: str | None = None,
        return_delay_s: float = 0.3,
        connect_timeout_s: float = 15.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self._url = url
        self._token = token
        self._avatar = avatar
        self._return_delay_s = return_delay_s
        self._connect_timeout_s = connect_timeout_s
        self._voice: LiveAudioTrack | None = None
        self._client: AvatarClient | None = None
        self._received: asyncio.Queue[ReceivedVideo | None] = asyncio.Queue()
        self._audio: list[np.ndarray] = []
        self._opened_at = 0.0
        self._tasks: set[asyncio.Task] = set()

    async def open_avatar(self) -> None:
        self._voice = LiveAudioTrack(TIMELINE_RATE)
        self._client = await AvatarClient.connect(
            self._url,
            token=self._token,
            avatar=self._avatar,
            mode="voice",
            voice_track=self._voice,
            timeout=self._connect_timeout_s,
        )
        self._client.keep_audio = False
        self._client.on_audio = self._on_audio
        self._client.on_video = self._received.put_nowait
        self._opened_at = asyncio.get_running_loop().time()
        logger.info(f"{self}: avatar session {self._client.session_id} on {self._url}")

    async def close_avatar(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        self._received.put_nowait(None)
        for task in self._tasks:
            task.cancel()

    def speak(self, pcm48: np.ndarray, context_id: str | None) -> None:
        self._voice.push(pcm48)

    def end_utterance(self) -> None:
        """Nothing to say: voice mode hears the end of speech in the silence that follows it."""

    def interrupt_avatar(self) -> None:
        self._voice.clear()
        task = asyncio.create_task(self._client.interrupt())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def mark(self) -> Callable[[], bool]:
        loop = asyncio.get_running_loop()
        back_by = self._voice.sent_by() + self._return_delay_s
        return lambda: loop.time() >= back_by

    def _on_audio(self, received: ReceivedAudio) -> None:
        self._audio.append(received.pcm)

    async def pictures(self) -> AsyncIterator[Picture]:
        loop = asyncio.get_running_loop()
        while (received := await self._received.get()) is not None:
            pcm = np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.int16)
            self._audio = []
            yield Picture(received.image, loop.time() - self._opened_at, pcm)
