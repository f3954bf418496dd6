"""The two outgoing WebRTC tracks of a viewer. The session's pacer decides when each frame is due; a track only
hands aiortc the next frame of its subscription, stamped with the pts of its slot on the session clock, so audio
and video share one origin. aiortc puts every sender of one peer connection in the same MediaStream (msid), which
is what lets the browser lip-sync the two. A track's first pull starts the session's media (the viewer is ready).

A publishing peer whose media server chose H.264 sends the broadcast encoder's packets as its video instead
(`attach_encoded`): aiortc only packetizes them, so the broadcast is encoded once for RTMP, files and WebRTC."""
from __future__ import annotations

import asyncio
import fractions
from collections import deque
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamTrack

from engines.timebase import AUDIO_FRAME_SAMPLES, TIMELINE_RATE, VIDEO_CLOCK_RATE
from server.pipeline.bus import Subscription
from server.transports.packets import EncodedPacket, PacketSubscription

AUDIO_TIME_BASE = fractions.Fraction(1, TIMELINE_RATE)
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


class _SessionTrack(MediaStreamTrack):
    """Waits for a subscription (the answer is made before the session's pipeline exists), then reads it."""

    def __init__(self) -> None:
        super().__init__()
        self._subscription: Subscription | None = None
        self._start: Callable[[], None] = lambda: None
        self._attached = asyncio.Event()

    def attach(self, subscription: Subscription, start: Callable[[], None]) -> None:
        self._subscription, self._start = subscription, start
        self._attached.set()

    async def _ready(self) -> None:
        await self._attached.wait()
        self._start()

    async def _source(self) -> Subscription:
        await self._ready()
        assert self._subscription is not None
        return self._subscription

    def stop(self) -> None:
        super().stop()
        if self._subscription is not None:
            self._subscription.close()


class SessionAudioTrack(_SessionTrack):
    kind = "audio"

    async def recv(self) -> av.AudioFrame:
        source = await (await self._source()).audio()
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME_SAMPLES)
        frame.planes[0].update(source.pcm.tobytes())
        frame.sample_rate = TIMELINE_RATE
        frame.pts = source.pts
        frame.time_base = AUDIO_TIME_BASE
        return frame


class SessionVideoTrack(_SessionTrack):
    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.frames_sent = 0
        self._packets: PacketSubscription | None = None
        self._queued: deque[EncodedPacket] = deque()

    def attach_encoded(self, packets: PacketSubscription, start: Callable[[], None]) -> None:
        """Send these H.264 packets (Annex B, from a keyframe with its parameter sets on) instead of frames."""
        self._packets, self._start = packets, start
        self._attached.set()

    async def recv(self) -> av.VideoFrame | av.Packet:
        await self._ready()
        if self._packets is not None:
            return await self._next_packet(self._packets)
        source = await (await self._source()).video()
        self.frames_sent += 1
        frame = av.VideoFrame.from_ndarray(source.yuv, format="yuv420p")
        frame.pts = source.pts
        frame.time_base = VIDEO_TIME_BASE
        return frame

    async def _next_packet(self, packets: PacketSubscription) -> av.Packet:
        """The next video packet; the audio of the subscription is the AAC the muxing outputs send, not ours."""
        while not self._queued:
            self._queued.extend(p for p in await packets.batch() if p.kind == "video")
        encoded = self._queued.popleft()
        packet = av.Packet(encoded.data)
        packet.pts, packet.dts, packet.time_base = encoded.pts, encoded.dts, encoded.time_base
        self.frames_sent += 1
        return packet

    def stop(self) -> None:
        super().stop()
        if self._packets is not None:
            self._packets.close()
