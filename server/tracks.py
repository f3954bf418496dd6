"""The two outgoing WebRTC tracks. aiortc has no pacing of its own: each `recv()` sleeps until its frame is due
on the session's media clock and stamps the frame with the pts of that slot, so audio and video share one origin.
A track that falls behind (a stalled loop) skips to the present instead of drifting. aiortc puts every sender of
one peer connection in the same MediaStream (msid), which is what lets the browser lip-sync the two."""
from __future__ import annotations

import fractions
from typing import Protocol

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from engines.timebase import FPS, SAMPLES_PER_FRAME, TIMELINE_RATE
from server.clock import MediaClock

AUDIO_FRAME_SAMPLES = TIMELINE_RATE // 50  # 20 ms
AUDIO_TIME_BASE = fractions.Fraction(1, TIMELINE_RATE)
VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
VIDEO_PTS_STEP = VIDEO_CLOCK_RATE // FPS  # 3600
# How far behind its slot a track may be before it skips ahead to the present.
MAX_BEHIND_S = 0.1
# Rendering starts this much before a video frame is due, so the frame is ready on time.
RENDER_AHEAD_S = 0.04


class MediaSource(Protocol):
    """What a session offers its tracks: audio samples and rendered frames for given slots."""

    def audio(self, start_sample: int, count: int) -> np.ndarray: ...

    async def video(self, frame: int) -> np.ndarray:
        """The picture of video frame `frame`, planar YUV 4:2:0 ((height * 3 / 2) x width, uint8)."""

    def video_sent(self, frame: int, late: bool) -> None: ...


class _PacedTrack(MediaStreamTrack):
    """Slot counting on the shared clock; subclasses say how long a slot is and what fills it."""

    slot_s: float

    def __init__(self, clock: MediaClock, source: MediaSource) -> None:
        super().__init__()
        self._clock = clock
        self._source = source
        self._slot = 0

    def _next_slot(self) -> int:
        self._clock.start()
        if self._clock.now() - self._slot * self.slot_s > MAX_BEHIND_S:
            self._slot = int(self._clock.now() / self.slot_s)
        slot = self._slot
        self._slot += 1
        return slot


class SessionAudioTrack(_PacedTrack):
    kind = "audio"
    slot_s = AUDIO_FRAME_SAMPLES / TIMELINE_RATE

    async def recv(self) -> av.AudioFrame:
        slot = self._next_slot()
        await self._clock.sleep_until(slot * self.slot_s)
        start = slot * AUDIO_FRAME_SAMPLES
        pcm = self._source.audio(start, AUDIO_FRAME_SAMPLES)
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME_SAMPLES)
        frame.planes[0].update(pcm.tobytes())
        frame.sample_rate = TIMELINE_RATE
        frame.pts = start
        frame.time_base = AUDIO_TIME_BASE
        return frame


class SessionVideoTrack(_PacedTrack):
    kind = "video"
    slot_s = SAMPLES_PER_FRAME / TIMELINE_RATE

    async def recv(self) -> av.VideoFrame:
        slot = self._next_slot()
        due = slot * self.slot_s
        await self._clock.sleep_until(due - RENDER_AHEAD_S)
        image = await self._source.video(slot)
        late = self._clock.now() > due
        await self._clock.sleep_until(due)
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts = slot * VIDEO_PTS_STEP
        frame.time_base = VIDEO_TIME_BASE
        self._source.video_sent(slot, late)
        return frame
