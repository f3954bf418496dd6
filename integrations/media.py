"""A session's frames as agent frameworks take them: each video frame together with the 40 ms of audio it shows
(video frame n with audio frames 2n and 2n+1), handed over as soon as both are made, so that an output which
writes them at once keeps lips and voice together. An audio frame the reader lost by falling behind comes as
silence: every picture carries its whole 40 ms, so an output that plays the audio back to back stays on time. Pictures as RGB, the colour format both frameworks' outputs
take."""
from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import cv2
import numpy as np

from engines.timebase import AUDIO_FRAME_SAMPLES, SAMPLES_PER_FRAME
from server.pipeline.bus import Subscription
from server.pipeline.frames import AudioFrame, VideoFrame

AUDIO_PER_VIDEO = SAMPLES_PER_FRAME // AUDIO_FRAME_SAMPLES


@dataclass(frozen=True)
class MediaUnit:
    video: VideoFrame
    audio: tuple[AudioFrame, ...]  # the frame's AUDIO_PER_VIDEO audio frames in order (silence for a lost one)

    @property
    def pcm(self) -> np.ndarray:
        return np.concatenate([frame.pcm for frame in self.audio])

    @property
    def audio_end(self) -> int:
        """Timeline sample after this unit's audio."""
        return (self.video.index + 1) * SAMPLES_PER_FRAME


async def media_units(subscription: Subscription) -> AsyncIterator[MediaUnit]:
    """The subscription's frames paired up, for as long as the session runs."""
    pending: deque[AudioFrame] = deque()
    while True:
        video = await subscription.video()
        first = video.index * AUDIO_PER_VIDEO
        last = first + AUDIO_PER_VIDEO - 1
        audio: list[AudioFrame] = []
        while True:
            while pending and pending[0].index < first:
                pending.popleft()  # audio of a video frame this reader lost
            if pending and pending[0].index > last:
                break
            if pending:
                audio.append(pending.popleft())
                if audio[-1].index == last:
                    break
                continue
            pending.append(await subscription.audio())
        yield MediaUnit(video, _whole(audio, first))


def _whole(audio: list[AudioFrame], first: int) -> tuple[AudioFrame, ...]:
    """The audio frames `first`.. of one video frame, silence in place of those that were lost."""
    found = {frame.index: frame for frame in audio}
    return tuple(found.get(index) or AudioFrame(index, np.zeros(AUDIO_FRAME_SAMPLES, np.int16))
                 for index in range(first, first + AUDIO_PER_VIDEO))


def rgb(frame: VideoFrame) -> np.ndarray:
    """The picture as height x width x 3 RGB, uint8."""
    return cv2.cvtColor(frame.yuv, cv2.COLOR_YUV2RGB_I420)
