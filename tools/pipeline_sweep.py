"""Sessions per machine of the whole media pipeline, without the network: N sessions in this process talking
without pause (text mode: TTS, the face network, the speech gestures, the configured renderer), each one's frames
taken from its subscription through the WebRTC transport's own tracks and encoded as a viewer's sender encodes them
(VP8 as the server tunes it, or aiortc's H.264, and Opus), on the event loop's default executor as aiortc does.
A frame "arrives" when its encoding is done; frames are counted by their timestamps as the load client counts
them (harness/measure.py `video_stats`: frame rate, missing timestamps, frames later than their playout slot).

Used by tools/gpu_check.py (the GPU machine's sweep); runs anywhere the server runs.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from harness.measure import video_stats
from harness.talking import TALK
from server.config import ServerConfig
from server.pipeline.session import SessionPipeline
from server.services import Services
from server.sessions import session_log
from server.transports.webrtc.tracks import SessionAudioTrack, SessionVideoTrack

log = logging.getLogger(__name__)
MAX_LATE_SHARE = 0.01  # the performance budget: at most 1 % of frames missing or late


@dataclass(frozen=True)
class SweepPoint:
    """N sessions talking for `seconds`: what their viewers' encoders got."""

    sessions: int
    codec: str
    seconds: float
    frames: int
    missing: int
    late: int
    fps_min: float
    fps_mean: float
    cpu_cores_busy: float  # process CPU time over wall time, in cores

    @property
    def late_share(self) -> float:
        return (self.missing + self.late) / max(1, self.frames + self.missing)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "late_share": self.late_share}


class _Viewer:
    """One session and what its viewer's sender does with its frames."""

    def __init__(self, services: Services, index: int, codec: str) -> None:
        self.pipeline = SessionPipeline(services.pipeline, avatar=services.default_avatar,
                                        log=session_log(f"sweep-{index}"))
        subscription = self.pipeline.subscribe()
        encoding = services.encoding
        self.video, self.audio = SessionVideoTrack(encoding.pool), SessionAudioTrack(encoding.audio())
        self.video.encoder = encoding.video(codec)
        self.video.attach(subscription, self.pipeline.clock, self.pipeline.start)
        self.audio.attach(subscription, self.pipeline.clock, self.pipeline.start)
        self.times: list[tuple[float, int]] = []  # (encoded at, pts)
        self._tasks = [asyncio.create_task(self._encode_video()), asyncio.create_task(self._encode_audio()),
                       asyncio.create_task(self._talk())]

    async def _encode_video(self) -> None:
        """The track encodes each frame in the encoder pool and hands it over at its slot, as to aiortc."""
        while True:
            packet = await self.video.recv()
            self.times.append((time.monotonic(), packet.pts))

    async def _encode_audio(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await loop.run_in_executor(None, self.audio.encoder.encode, await self.audio.recv())

    async def _talk(self) -> None:
        ended = asyncio.Event()
        self.pipeline.events.listen(lambda event: ended.set() if event["type"] == "speech_ended" else None)
        for text in itertools.cycle(TALK):
            ended.clear()
            self.pipeline.text(text, flush=True)
            await ended.wait()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for failed in (t for t in self._tasks if not t.cancelled() and t.exception() is not None):
            log.error("a viewer's task failed: %r", failed.exception())
        self.video.stop()
        self.audio.stop()
        await self.pipeline.close()


async def measure(services: Services, sessions: int, codec: str, seconds: float, warmup_s: float) -> SweepPoint:
    """`sessions` viewers talking: warm up, then count `seconds` of their encoded frames."""
    viewers = []
    try:
        for index in range(sessions):
            viewers.append(_Viewer(services, index, codec))
            await asyncio.sleep(0.02)  # a ramp, as clients connect one after another
        await asyncio.sleep(warmup_s)
        start, cpu_start = time.monotonic(), time.process_time()
        await asyncio.sleep(seconds)
        end, cpu = time.monotonic(), time.process_time() - cpu_start
    finally:
        await asyncio.gather(*(viewer.close() for viewer in viewers))
    stats = [video_stats(viewer.times, start, end) for viewer in viewers]
    rates = [s.fps for s in stats]
    return SweepPoint(sessions, codec, seconds, sum(s.frames for s in stats), sum(s.missing for s in stats),
                      sum(s.late for s in stats), min(rates), sum(rates) / len(rates), cpu / (end - start))


async def sweep(config: ServerConfig, counts: list[int], codec: str, seconds: float, warmup_s: float,
                deadline: float, on_point: Callable[[SweepPoint], None]) -> tuple[str, bool]:
    """Measure each session count in turn until one misses the budget (more than MAX_LATE_SHARE of its frames
    missing or late) or the next would end past `deadline` (monotonic). Returns the face backend that ran and
    whether the sweep was cut short by the deadline."""
    sys.setswitchinterval(config.workers.gil_switch_interval_s)
    services = Services(config)
    try:
        for sessions in counts:
            expected = warmup_s + seconds + 0.02 * sessions + 5.0
            if time.monotonic() + expected > deadline:
                return services.face.backend, True
            point = await measure(services, sessions, codec, seconds, warmup_s)
            log.info("%d sessions (%s): %.1f%% of frames missing or late, %.1f cores busy", sessions, codec,
                     100 * point.late_share, point.cpu_cores_busy)
            on_point(point)
            if point.late_share > MAX_LATE_SHARE:
                break
        return services.face.backend, False
    finally:
        await services.close()
