"""Fan-out of a session's frames to its outputs: every output reads its own bounded queue.

Frames are made once per session (rendered once, whatever the number of outputs) and each output takes them at
its own pace. An output that falls behind loses its oldest frames rather than holding back the session or the
other outputs, so a slow encoder or a stalled network costs that output frames, never the others their timing.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

from server.pipeline.frames import AudioFrame, VideoFrame

T = TypeVar("T")


class _Queue(Generic[T]):
    def __init__(self, depth: int) -> None:
        self._items: deque[T] = deque(maxlen=depth)
        self._ready = asyncio.Event()
        self.dropped = 0

    def put(self, item: T) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    async def get(self) -> T:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class Subscription:
    """One output's view of the session's frames, from the moment it subscribed."""

    def __init__(self, bus: FrameBus, audio_depth: int, video_depth: int) -> None:
        self._bus = bus
        self._audio: _Queue[AudioFrame] = _Queue(audio_depth)
        self._video: _Queue[VideoFrame] = _Queue(video_depth)

    async def audio(self) -> AudioFrame:
        return await self._audio.get()

    async def video(self) -> VideoFrame:
        return await self._video.get()

    @property
    def dropped(self) -> int:
        """Frames this output lost by falling behind."""
        return self._audio.dropped + self._video.dropped

    def close(self) -> None:
        self._bus.unsubscribe(self)


class FrameBus:
    def __init__(self, audio_depth: int, video_depth: int) -> None:
        self._audio_depth = audio_depth
        self._video_depth = video_depth
        self._subscriptions: list[Subscription] = []

    def subscribe(self) -> Subscription:
        subscription = Subscription(self, self._audio_depth, self._video_depth)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def publish_audio(self, frame: AudioFrame) -> None:
        for subscription in self._subscriptions:
            subscription._audio.put(frame)

    def publish_video(self, frame: VideoFrame) -> None:
        for subscription in self._subscriptions:
            subscription._video.put(frame)

    def __len__(self) -> int:
        return len(self._subscriptions)
