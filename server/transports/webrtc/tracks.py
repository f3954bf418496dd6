"""The two outgoing WebRTC tracks of a viewer. The session's pacer decides when each frame is due. The audio track
hands aiortc each audio frame at its slot; the video track encodes each frame itself as soon as it is published
and hands aiortc the finished packet at the frame's slot on the session clock (aiortc then only packetizes it), so
that the packets of one media time leave together (server/transports/webrtc/encoders.py). Both are stamped with
the pts of their slot, so audio and video share one origin. aiortc puts every sender of one peer connection in the
same MediaStream (msid), which is what lets the browser lip-sync the two. A track's first pull starts the
session's media (the viewer is ready).

A publishing peer whose media server chose H.264 sends the broadcast encoder's packets as its video instead
(`attach_encoded`): aiortc only packetizes them, so the broadcast is encoded once for RTMP, files and WebRTC."""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor

import av
from aiortc.mediastreams import MediaStreamTrack

from engines.timebase import AUDIO_FRAME_SAMPLES, TIMELINE_RATE
from server.pipeline.bus import Subscription
from server.pipeline.clock import MediaClock
from server.transports.codecs import AUDIO_TIME_BASE
from server.transports.packets import EncodedPacket, PacketSubscription
from server.transports.webrtc.encoders import MonoOpusEncoder, VideoEncoder


class _SessionTrack(MediaStreamTrack):
    """Waits for a subscription (the answer is made before the session's pipeline exists), then reads it."""

    def __init__(self) -> None:
        super().__init__()
        self._subscription: Subscription | None = None
        self._start: Callable[[], None] = lambda: None
        self._clock: MediaClock | None = None
        self._attached = asyncio.Event()

    def attach(self, subscription: Subscription, clock: MediaClock, start: Callable[[], None]) -> None:
        """Read `subscription`, whose frames are due on `clock`; `start()` starts the session's media."""
        self._subscription, self._clock, self._start = subscription, clock, start
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

    def __init__(self, encoder: MonoOpusEncoder) -> None:
        super().__init__()
        self.encoder = encoder  # aiortc's sender encodes with it (encoders.attach)

    async def recv(self) -> av.AudioFrame:
        """The next audio frame, at its slot."""
        source = await (await self._source()).audio()
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME_SAMPLES)
        frame.planes[0].update(source.pcm.tobytes())
        frame.sample_rate = TIMELINE_RATE
        frame.pts = source.pts
        frame.time_base = AUDIO_TIME_BASE
        return frame


class SessionVideoTrack(_SessionTrack):
    kind = "video"

    def __init__(self, pool: Executor) -> None:
        super().__init__()
        self._pool = pool
        self.encoder: VideoEncoder | None = None  # set once the answer says which codec the viewer takes
        self.frames_sent = 0
        self._packets: PacketSubscription | None = None
        self._queued: deque[EncodedPacket] = deque()

    def attach_encoded(self, packets: PacketSubscription, start: Callable[[], None]) -> None:
        """Send these H.264 packets (Annex B, from a keyframe with its parameter sets on) instead of frames."""
        self._packets, self._start = packets, start
        self._attached.set()

    async def recv(self) -> av.Packet:
        """The next video frame, encoded in an encoder thread as soon as it is published, released at its slot
        (or the next of the attached H.264 packets)."""
        await self._ready()
        if self._packets is not None:
            return await self._next_packet(self._packets)
        assert self.encoder is not None, "the track sends before its codec is known"
        source = await (await self._source()).video()
        loop = asyncio.get_running_loop()
        packet = await loop.run_in_executor(self._pool, self.encoder.encode_yuv, source.yuv, source.pts)
        assert self._clock is not None
        await self._clock.sleep_until(source.time)
        self.frames_sent += 1
        return packet

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
