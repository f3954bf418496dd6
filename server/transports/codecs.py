"""What every encoder of the server agrees on, whichever output it feeds (a WebRTC viewer's tracks,
server/transports/webrtc/encoders.py; a broadcast's muxed outputs, server/transports/encoder.py): the time bases
of the session clock, and the x264 settings of live H.264.
"""
from __future__ import annotations

from fractions import Fraction

from engines.timebase import TIMELINE_RATE, VIDEO_CLOCK_RATE

VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_TIME_BASE = Fraction(1, TIMELINE_RATE)


def x264_options(preset: str, profile: str, **more: str) -> dict[str, str]:
    """libx264 options of a live stream: no look-ahead, no B-frames and one frame of delay (`zerolatency`), and a
    keyframe asked for is an IDR picture, where a receiver that joins or lost a picture can start decoding.
    `more` adds the options of one output (rate control, threads, keyframe policy)."""
    return {"preset": preset, "tune": "zerolatency", "profile": profile, "forced-idr": "1", **more}
