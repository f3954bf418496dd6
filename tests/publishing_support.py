"""For the tests of the publishing outputs (WHIP, Janus): a live session pipeline made from the server's Services
with no transport of its own, outputs built as a broadcast request builds them, and waiting for an output's
state."""
from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import AsyncIterator

import aioice.ice
from aiortc import RTCPeerConnection
from aiortc.codecs.h264 import H264Encoder

from harness.measure import VideoStats, video_stats
from server.pipeline.session import SessionPipeline
from server.services import Services
from server.sessions import session_log
from server.transports.base import Output, OutputStatus
from server.transports.encoder import BroadcastEncoder
from server.transports.registry import OUTPUTS, output_kind
from server.transports.requests import OutputContext
from server.transports.webrtc.encoders import Encoding
from server.transports.webrtc.ice import restrict_ice_hosts
from server.transports.webrtc.publishing import PublishSettings
from tests.conftest import make_config

# Short waits so that retries show within a test; the production values are the configuration's defaults.
QUICK_RETRIES = {"output_retry_min_s": 0.2, "output_retry_max_s": 1.0}
CONFIG = make_config(tts="espeak", broadcast=QUICK_RETRIES)
SETTINGS = PublishSettings.of(CONFIG)
ENCODING = Encoding(CONFIG.workers)  # the viewers' encoders of a server's Services, for outputs built here
LOG = session_log("test")
# What "25 fps" is held to. Every frame is stamped 3600 ticks after the one before (the media is 25 fps by its
# timestamps); on the shared 2-core box, publisher, media server and viewers in one process lose a few of them and
# arrive unevenly when it is loaded, so arrival rate and losses get a margin that a stalled or halved stream fails.
FPS_RANGE = (21.0, 27.0)
MAX_MISSING = 0.15
SPEECH = "Hello everyone, and welcome to the show. Today we talk about streaming avatars."


def requested(spec: dict, encoder: BroadcastEncoder | None = None) -> Output:
    """The output a broadcast request with output `spec` gets (ProtocolError when it is refused)."""
    context = OutputContext("test", CONFIG, encoder or BroadcastEncoder(CONFIG.broadcast, LOG), LOG, ENCODING)
    return OUTPUTS.load(output_kind(spec)).from_request(spec, context)


@contextlib.asynccontextmanager
async def live_pipeline(services: Services) -> AsyncIterator[SessionPipeline]:
    """A text-mode session on the real clock, as a broadcast runs one; closed at the end of the block."""
    pipeline = SessionPipeline(services.pipeline, avatar=services.default_avatar, voice="espeak:en-us", log=LOG)
    try:
        yield pipeline
    finally:
        await pipeline.close()


@contextlib.asynccontextmanager
async def started(spec: dict, pipeline: SessionPipeline) -> AsyncIterator[Output]:
    """The output of `spec` publishing the pipeline as a broadcast starts it (with the broadcast's own encoder, so
    that a media server choosing H.264 gets its packets), closed with the encoder at the end of the block."""
    encoder = BroadcastEncoder(CONFIG.broadcast, LOG)
    encoder.attach(pipeline)
    output = requested(spec, encoder)
    await output.start(pipeline)
    pipeline.start()
    try:
        yield output
    finally:
        await encoder.finish()
        await output.close()
        await encoder.close()


async def wait_for_state(output: Output, state: str, timeout: float = 20.0) -> OutputStatus:
    async with asyncio.timeout(timeout):
        while (status := output.status()).state != state:
            await asyncio.sleep(0.05)
    return status


async def video_over(video: list[tuple[float, int]], seconds: float) -> VideoStats:
    """Rate and gaps of the (arrival, pts) frames that arrive over `seconds`, from a second after the first frame
    (a new connection spends its first moments on the first keyframe and the bitrate's first estimate)."""
    async with asyncio.timeout(15):
        while not video:
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    start = time.monotonic()
    await asyncio.sleep(seconds)
    return video_stats(video, start, time.monotonic())


def at_25_fps(video: VideoStats) -> bool:
    return FPS_RANGE[0] <= video.fps <= FPS_RANGE[1] and video.missing <= MAX_MISSING * (video.frames + video.missing)


@contextlib.contextmanager
def ice_hosts(*addresses: str):
    """aiortc's peers in this process offer exactly these host addresses while the block runs."""
    original = aioice.ice.get_host_addresses
    restrict_ice_hosts(addresses)
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


def open_sockets() -> int:
    """Sockets this process holds open (UDP for ICE, TCP for HTTP)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


def open_peers() -> int:
    """Peer connections of this process that are not closed."""
    gc.collect()
    return sum(isinstance(o, RTCPeerConnection) and o.connectionState != "closed" for o in gc.get_objects())


def peer_h264_encoders() -> int:
    """aiortc's own H.264 encoders of this process that have encoded a frame."""
    gc.collect()
    return sum(isinstance(o, H264Encoder) and o.codec is not None for o in gc.get_objects())


def running() -> tuple[int, int, int]:
    """(tasks, sockets, open peer connections) of this process now."""
    return len(asyncio.all_tasks()), open_sockets(), open_peers()


async def assert_nothing_left(before: tuple[int, int, int]) -> None:
    """No task, socket or open peer connection beyond those `running()` counted before the output started (given
    a moment to settle)."""
    deadline = time.monotonic() + 5.0
    while running() != before and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert running() == before, asyncio.all_tasks()
