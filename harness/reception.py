"""What a receiving peer got on its tracks, kept as a viewer would see it: each video frame's arrival and
timestamp, each audio frame's arrival and level. Shared by the viewers of the SFU tests and benchmarks and by the
test's own media servers."""
from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription


class Reception:
    """Pass `read` to a peer connection's "track" event; `stop` ends the reading."""

    def __init__(self) -> None:
        self.video: list[tuple[float, int]] = []  # (time.monotonic() of arrival, pts at 90 kHz) per frame
        self.audio: list[tuple[float, float]] = []  # (arrival, RMS level of the int16 samples) per frame
        self._readers: list[asyncio.Task] = []

    def read(self, track: MediaStreamTrack) -> None:
        self._readers.append(asyncio.ensure_future(self._keep(track)))

    async def _keep(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.video.append((time.monotonic(), frame.pts))
                else:
                    samples = frame.to_ndarray().astype(np.float64)
                    self.audio.append((time.monotonic(), float(np.sqrt(np.mean(samples**2)))))

    async def stop(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


def video_codec(pc: RTCPeerConnection) -> str:
    """The video codec ("video/VP8", "video/H264") that a receiving peer's answer (its local description) chose."""
    video = next(m for m in SessionDescription.parse(pc.localDescription.sdp).media if m.kind == "video")
    return video.rtp.codecs[0].mimeType
