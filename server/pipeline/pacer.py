"""When each frame is due: the session clock's two slot counters, audio every 20 ms and video every 40 ms.

The pacer asks the session's media for each frame at its slot and publishes it to every output, so playback,
cues and therefore events follow the session clock, not any transport's pull. An audio frame is published at its
slot. A video frame is rendered `render_ahead_s` before its slot, so it is ready on time, and published
`encode_lead_s` before it, so that an output can encode it and send it at the slot, with the audio of the same
media time (an output that sends in real time releases each frame at `frame.time` on the session clock). An
interrupt between the render and the publication renders the frame again, so the mouth starts to close in the
first frame that leaves after it. A counter that falls behind (a stalled event loop) skips to the present instead
of drifting.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from engines.timebase import AUDIO_FRAME_SAMPLES, SAMPLES_PER_FRAME, TIMELINE_RATE
from server.config import MediaSettings
from server.pipeline.bus import FrameBus
from server.pipeline.clock import MediaClock
from server.pipeline.frames import VideoFrame
from server.pipeline.media import SessionMedia
from server.pipeline.tasks import cancel_tasks

AUDIO_SLOT_S = AUDIO_FRAME_SAMPLES / TIMELINE_RATE
VIDEO_SLOT_S = SAMPLES_PER_FRAME / TIMELINE_RATE


class Pacer:
    def __init__(
        self,
        clock: MediaClock,
        media: SessionMedia,
        bus: FrameBus,
        settings: MediaSettings,
        log: logging.LoggerAdapter,
    ) -> None:
        self._log = log
        self._clock = clock
        self._media = media
        self._bus = bus
        self._settings = settings
        self._tasks: list[asyncio.Task] = []
        self._closed = False

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Start the clock and both slot counters (once; later calls, and calls after close, do nothing)."""
        if self._tasks or self._closed:
            return
        self._clock.start()
        self._tasks = [asyncio.create_task(self._audio()), asyncio.create_task(self._video())]

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(asyncio.CancelledError):
            await cancel_tasks(self._tasks)

    def _catch_up(self, slot: int, slot_s: float) -> int:
        if self._clock.now() - slot * slot_s > self._settings.max_behind_s:
            return int(self._clock.now() / slot_s)
        return slot

    async def _audio(self) -> None:
        slot = 0
        while True:
            slot = self._catch_up(slot, AUDIO_SLOT_S)
            await self._clock.sleep_until(slot * AUDIO_SLOT_S)
            self._bus.publish_audio(self._media.audio_frame(slot))
            slot += 1

    async def _video(self) -> None:
        slot = 0
        while True:
            slot = self._catch_up(slot, VIDEO_SLOT_S)
            due = slot * VIDEO_SLOT_S
            await self._clock.sleep_until(due - self._settings.render_ahead_s)
            try:
                frame = await self._render(slot, due)
            except Exception:  # a frame that cannot be drawn costs that frame, never the session's video
                self._log.exception("could not render video frame %d", slot)
                slot += 1
                continue
            late = self._clock.now() > due
            self._bus.publish_video(frame)
            await self._clock.sleep_until(due)
            self._media.video_sent(slot, late)
            slot += 1

    async def _render(self, slot: int, due: float) -> VideoFrame:
        """The frame of `slot`, as of `encode_lead_s` before it is due: drawn again if the media was cut since."""
        cuts = self._media.cuts
        frame = await self._media.video_frame(slot)
        await self._clock.sleep_until(due - self._settings.encode_lead_s)
        if self._media.cuts != cuts:
            frame = await self._media.video_frame(slot)
        return frame
