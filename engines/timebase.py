"""The media timebase and the mouth-parameter contract that every stage agrees on.

One session lives on one timeline of 48 kHz samples. Audio leaves in 20 ms frames; video frame n covers samples
[n*1920, (n+1)*1920) and shows the mouth at the frame's centre. The face engines produce, the renderers consume
and the pipeline schedules one vector of MOUTH_PARAMS per video frame, optionally followed by GESTURE_PARAMS (head
and brow motion that goes with the speech). Nothing here imports another module of the project, so every layer
may depend on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIMELINE_RATE = 48_000
FPS = 25
SAMPLES_PER_FRAME = TIMELINE_RATE // FPS  # 1920
AUDIO_FRAME_SAMPLES = TIMELINE_RATE // 50  # 20 ms
VIDEO_CLOCK_RATE = 90_000
VIDEO_PTS_STEP = VIDEO_CLOCK_RATE // FPS  # 3600

# Named mouth parameters, each in [0, 1]; the renderer and the network agree on this order.
MOUTH_PARAMS: tuple[str, ...] = (
    "jaw_open",  # how far the jaw drops (a, o)
    "lip_spread",  # corners pulled back (i, e)
    "lip_round",  # lips pushed forward and rounded (u, o, w)
    "lip_close",  # lips pressed together (m, b, p)
    "lip_tuck",  # lower lip tucked under the upper teeth (f, v)
)
N_PARAMS = len(MOUTH_PARAMS)
REST = np.zeros(N_PARAMS, dtype=np.float32)

# Named speech-gesture parameters, each in [-1, 1] (brow_raise in [0, 1]), 0 = no gesture. A renderer's parameter
# vector is MOUTH_PARAMS followed optionally by GESTURE_PARAMS: a vector of N_PARAMS values alone means no speech
# gestures (the renderer's own idle motion only); gestures are added on top of that idle motion.
GESTURE_PARAMS: tuple[str, ...] = (
    "head_nod",  # head down (+) or up (-): beats on stressed syllables, a settling nod at phrase ends
    "head_tilt",  # head rolled toward the subject's left shoulder (+) or right (-)
    "head_turn",  # head turned toward the image's right (+) or left (-)
    "brow_raise",  # both brows lifted (emphasis: pitch and loudness peaks)
)
N_GESTURES = len(GESTURE_PARAMS)
N_FRAME_PARAMS = N_PARAMS + N_GESTURES


def frame_center(frame: int) -> int:
    """Timeline sample at the centre of video frame `frame`."""
    return frame * SAMPLES_PER_FRAME + SAMPLES_PER_FRAME // 2


def seconds_to_samples(seconds: float) -> int:
    return int(round(seconds * TIMELINE_RATE))


@dataclass(frozen=True)
class FrameParams:
    """Parameters for consecutive video frames starting at `first_frame` (shape: frames x N_PARAMS for mouth
    parameters, frames x N_GESTURES for a gesture stream's output)."""

    first_frame: int
    params: np.ndarray

    def __len__(self) -> int:
        return len(self.params)
