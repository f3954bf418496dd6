"""A session's media: the timeline and cues that the audio track plays, and the mouth schedule and renderer
that the video track shows. It is the `MediaSource` behind both tracks."""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor

import cv2
import numpy as np

from engines.avatar import AvatarRenderer
from engines.timebase import SAMPLES_PER_FRAME
from server.admission import LatenessWindow
from server.metrics import Metrics
from server.mouth import MouthSchedule
from server.timeline import Cues, Timeline


class Stage:
    def __init__(
        self, renderer: AvatarRenderer, render_pool: Executor, metrics: Metrics, lateness: LatenessWindow
    ) -> None:
        self.timeline = Timeline()
        self.audio_cues = Cues()  # fire when the audio containing their sample is sent
        self.video_cues = Cues()  # fire when the video frame showing their sample is sent
        self.mouth = MouthSchedule()
        self.renderer = renderer
        self._render_pool = render_pool
        self._metrics = metrics
        self._lateness = lateness
        self._played = 0

    @property
    def played(self) -> int:
        """First timeline sample not yet handed to the audio track: everything before it is out."""
        return self._played

    def audio(self, start_sample: int, count: int) -> np.ndarray:
        self.audio_cues.fire_until(start_sample + count)
        self._played = start_sample + count
        self._metrics.audio_frames.inc()
        return self.timeline.read(start_sample, count)

    async def video(self, frame: int) -> np.ndarray:
        """Frame `frame` as planar YUV 4:2:0, the encoders' own format: converting here with OpenCV costs a tenth
        of what the encoder's generic conversion from RGB would."""
        params = self.mouth.take(frame)
        renderer = self.renderer

        def render() -> np.ndarray:
            return cv2.cvtColor(renderer.render(frame, params), cv2.COLOR_RGB2YUV_I420)

        began = time.perf_counter()
        image = await asyncio.get_running_loop().run_in_executor(self._render_pool, render)
        self._metrics.render.observe(time.perf_counter() - began)
        return image

    def video_sent(self, frame: int, late: bool) -> None:
        self.video_cues.fire_until((frame + 1) * SAMPLES_PER_FRAME)
        self._metrics.video_frames.inc()
        self._lateness.record(late)
        if late:
            self._metrics.video_frames_late.inc()
