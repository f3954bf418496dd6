"""The frames a session's pipeline hands its outputs: plain arrays with their slot on the session clock.

Audio frame k holds timeline samples [k*960, (k+1)*960) (20 ms at 48 kHz); video frame n is the picture shown for
samples [n*1920, (n+1)*1920) (25 fps). Timestamps follow docs/protocol.md "Media": audio pts = k*960 on a 48 kHz
clock, video pts = n*3600 on a 90 kHz clock; a transport converts them into its own container or RTP units.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.timebase import AUDIO_FRAME_SAMPLES, FPS, TIMELINE_RATE, VIDEO_PTS_STEP


@dataclass(frozen=True)
class AudioFrame:
    index: int
    pcm: np.ndarray  # int16 mono, AUDIO_FRAME_SAMPLES at TIMELINE_RATE

    @property
    def pts(self) -> int:
        return self.index * AUDIO_FRAME_SAMPLES

    @property
    def time(self) -> float:
        """Session time of the frame's first sample (s)."""
        return self.pts / TIMELINE_RATE


@dataclass(frozen=True)
class VideoFrame:
    index: int
    yuv: np.ndarray  # planar YUV 4:2:0, (height * 3 / 2) x width, uint8

    @property
    def pts(self) -> int:
        return self.index * VIDEO_PTS_STEP

    @property
    def time(self) -> float:
        return self.index / FPS

    @property
    def width(self) -> int:
        return self.yuv.shape[1]

    @property
    def height(self) -> int:
        return self.yuv.shape[0] * 2 // 3
