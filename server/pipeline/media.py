"""A session's media state: the timeline and cues that the audio plays, the mouth and gesture schedules and the
renderer that the video shows. The pacer asks it for each frame when the frame is due; performers (text or voice) fill it."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from engines.avatar.base import SessionRenderer
from engines.timebase import (
    AUDIO_FRAME_SAMPLES,
    N_GESTURES,
    SAMPLES_PER_FRAME,
    seconds_to_samples,
)
from server.config import MediaSettings
from server.metrics import Metrics
from server.pipeline.frames import AudioFrame, VideoFrame
from server.pipeline.mouth import MouthSchedule, smooth
from server.pipeline.timeline import Cues, Timeline


class SessionMedia:
    def __init__(
        self,
        renderer: SessionRenderer,
        settings: MediaSettings,
        metrics: Metrics,
        on_video_frame: Callable[[bool], None],
    ) -> None:
        """`on_video_frame(late)` sees every video frame sent (admission counts late ones)."""
        self.timeline = Timeline()
        self.audio_cues = Cues()  # fire when the audio containing their sample is sent
        self.video_cues = Cues()  # fire when the video frame showing their sample is sent
        self.mouth = MouthSchedule(settings.release_frames)
        self.gestures = MouthSchedule(settings.gesture_release_frames, np.zeros(N_GESTURES, np.float32), smooth)
        self.renderer = renderer
        self._fade = seconds_to_samples(settings.interrupt_fade_s)
        self._metrics = metrics
        self._on_video_frame = on_video_frame
        self._played = 0
        self.cuts = 0  # interrupts so far: a frame drawn before the latest one shows a mouth that is gone

    @property
    def played(self) -> int:
        """First timeline sample not yet sent as audio: everything before it is out."""
        return self._played

    def audio_frame(self, index: int) -> AudioFrame:
        start = index * AUDIO_FRAME_SAMPLES
        self.audio_cues.fire_until(start + AUDIO_FRAME_SAMPLES)
        self._played = start + AUDIO_FRAME_SAMPLES
        self._metrics.audio_frames.inc()
        return AudioFrame(index, self.timeline.read(start, AUDIO_FRAME_SAMPLES))

    async def video_frame(self, index: int) -> VideoFrame:
        params = np.concatenate([self.mouth.take(index), self.gestures.take(index)])  # MOUTH_ then GESTURE_PARAMS
        began = time.perf_counter()
        yuv = await self.renderer.render(index, params)
        self._metrics.render.observe(time.perf_counter() - began)
        return VideoFrame(index, yuv)

    def close(self) -> None:
        """Drop the cues that never played: they hold their performer (a closure over it), which holds this media,
        and the reference cycle would keep the session's audio and renderer until a full collection."""
        self.audio_cues.clear()
        self.video_cues.clear()

    def video_sent(self, index: int, late: bool) -> None:
        self.video_cues.fire_until((index + 1) * SAMPLES_PER_FRAME)
        self._metrics.video_frames.inc()
        self._on_video_frame(late)
        if late:
            self._metrics.video_frames_late.inc()

    def cue_start(self, sample: int, received_at: float, started: Callable[[], None]) -> None:
        """An utterance whose first audio is at timeline `sample`, asked for at event-loop time `received_at`:
        `started` runs as that audio is sent, and the times to its first audio and first frame are measured."""
        loop = asyncio.get_running_loop()

        def audio_sent() -> None:
            self._metrics.first_audio.observe(loop.time() - received_at)
            started()

        self.audio_cues.at(sample, audio_sent)
        self.video_cues.at(sample, lambda: self._metrics.first_frame.observe(loop.time() - received_at))

    def cut(self, received_at: float) -> tuple[int, int]:
        """The interrupt of both modes: silence from the playback position on after a short fade (no click), and
        drop the cues, mouth and gesture frames ahead of it, so the mouth and the head ease to rest. Returns (cut, end of the fade)."""
        cut = self._played
        self.cuts += 1
        end = self.timeline.cut(cut, self._fade)
        self.audio_cues.drop_from(cut)
        self.video_cues.drop_from(cut)
        self.mouth.clear_from(cut // SAMPLES_PER_FRAME)
        self.gestures.clear_from(cut // SAMPLES_PER_FRAME)
        loop = asyncio.get_running_loop()
        self.audio_cues.at(end, lambda: self._metrics.interrupt_latency.observe(loop.time() - received_at))
        return cut, end
