"""What a broadcast's viewers and recordings get: the MP4 recording (both streams, the right duration, lips and
voice at the same session time, its index at the front), finalized on DELETE and at shutdown; WHEP viewing with
aiortc; and nothing left running after DELETE."""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from engines.avatar import load_avatar
from harness.rtmp import NginxRtmp
from harness.stream_sync import (
    SourceFrames,
    audio_offset,
    decode_file,
    mouth_follows_audio,
    video_offset,
)
from server.api.broadcast import Broadcast, BroadcastControl
from server.app import AvatarServer
from server.config import BroadcastSettings
from server.pipeline.session import SessionPipeline
from server.transports.encoder import BroadcastEncoder
from server.transports.file import FileOutput
from server.transports.packets import PacketSubscription
from server.transports.rtmp import RtmpOutput
from server.transports.webrtc.peer import WebRtcPeer
from tests.broadcast_support import Api
from tests.conftest import make_config
from tests.test_session_cleanup import live_objects, session_threads, tracked_objects

pytestmark = pytest.mark.slow


@pytest.fixture
def server_options(tmp_path) -> dict:
    return {"tts": "espeak", "broadcast": BroadcastSettings(recordings=tmp_path / "recordings")}


@pytest.fixture
async def api(server) -> AsyncIterator[Api]:
    # No keep-alive: the sockets the test counts are the server's own.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        yield Api(server, http)


async def test_recording_plays_with_both_streams_and_the_right_duration(api, tmp_path):
    broadcast = await api.create([{"file": "talk.mp4"}])
    created = time.monotonic()
    source, recording = SourceFrames.record(api.broadcast(broadcast).pipeline)
    await asyncio.sleep(0.5)
    await api.say(broadcast)
    await api.wait_until_speech_ended(broadcast)
    await asyncio.sleep(0.5)
    recording.cancel()
    status = (await api.describe(broadcast))["outputs"][0]
    assert status == {"kind": "file", "url": "/v1/recordings/talk.mp4", "state": "live",
                      "frames_sent": status["frames_sent"], "reconnects": 0, "error": None}
    assert (await api.call("GET", "/v1/recordings/talk.mp4"))[0] == 404  # not before it is finalized
    await api.delete(broadcast)
    lifetime = time.monotonic() - created

    async with api.http.get(f"{api.base}/v1/recordings/talk.mp4") as response:
        assert response.status == 200 and response.content_type == "video/mp4"
        data = await response.read()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: playable while it downloads
    path = tmp_path / "downloaded.mp4"
    path.write_bytes(data)
    decoded = decode_file(path)
    video_s = decoded.video[-1][0] + 0.04 - decoded.video[0][0]
    audio_s = len(decoded.audio) / 48_000
    assert abs(video_s - lifetime) < 0.6, (video_s, lifetime)
    # The streams' edges are their frames': audio starts at the first AAC frame (1024 samples) from the keyframe
    # on, and the last video frame lasts 40 ms past the last audio frame taken at the end.
    assert abs(audio_s - video_s) < 0.04 + 1024 / 48_000 + 0.002, (audio_s, video_s)
    assert np.abs(decoded.audio).max() > 3000
    assert abs(video_offset(decoded, source) - audio_offset(decoded, source)) < 0.001
    lag, correlation = mouth_follows_audio(decoded, load_avatar("astronaut").mouth_box)
    assert -2 <= lag <= 1 and correlation > 0.4, (lag, correlation)


async def test_shutdown_finalizes_recordings(tmp_path):
    recordings = tmp_path / "recordings"
    server = AvatarServer(make_config(tts="espeak", broadcast=BroadcastSettings(recordings=recordings)))
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(server, http)
            await api.create([{"file": "show.mp4"}])
            await asyncio.sleep(2.0)
    finally:
        await server.stop()
    assert [p.name for p in recordings.iterdir()] == ["show.mp4"]
    decoded = decode_file(recordings / "show.mp4")
    assert len(decoded.video) > 25 and len(decoded.audio) > 48_000


class WhepViewer:
    """A WHEP client with aiortc: receive-only audio and video, what arrived and when."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.addTransceiver("video", direction="recvonly")
        self.video_arrivals: list[float] = []
        self.audio_levels: list[tuple[float, float]] = []
        self._tasks: list[asyncio.Task] = []
        self.pc.on("track", lambda track: self._tasks.append(asyncio.create_task(self._consume(track))))
        self.location: str | None = None

    async def _consume(self, track) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.video_arrivals.append(time.monotonic())
                else:
                    pcm = frame.to_ndarray().astype(np.float64)
                    self.audio_levels.append((time.monotonic(), float(np.sqrt(np.mean(pcm**2)))))
        except MediaStreamError:
            pass

    async def join(self, api: Api, broadcast: str) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with api.http.post(f"{api.base}/v1/broadcasts/{broadcast}/whep", data=self.pc.localDescription.sdp,
                                 headers={"Content-Type": "application/sdp"}) as response:
            assert response.status == 201 and response.content_type == "application/sdp"
            self.location = response.headers["Location"]
            answer = await response.text()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    def fps(self, since: float) -> float:
        arrivals = [t for t in self.video_arrivals if t >= since]
        return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 2 else 0.0

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def test_whep_viewer_with_aiortc(api):
    broadcast = await api.create([])
    viewer = WhepViewer()
    try:
        await viewer.join(api, broadcast)
        assert viewer.location.startswith(f"/v1/broadcasts/{broadcast}/whep/")
        async with asyncio.timeout(20):
            while len(viewer.video_arrivals) < 10:
                await asyncio.sleep(0.1)
        assert (await api.describe(broadcast))["viewers"] == 1
        steady = time.monotonic()
        said = time.monotonic()
        await api.say(broadcast)
        await api.wait_until_speech_ended(broadcast)
        assert viewer.fps(steady) > 15, viewer.fps(steady)
        assert max(level for at, level in viewer.audio_levels if at > said) > 1000
        status, _ = await api.call("DELETE", viewer.location)
        assert status == 204
        assert (await api.describe(broadcast))["viewers"] == 0
        assert (await api.call("DELETE", viewer.location))[0] == 404
    finally:
        await viewer.close()
        await api.delete(broadcast)


TRACKED = (Broadcast, BroadcastControl, SessionPipeline, BroadcastEncoder, PacketSubscription, RtmpOutput, FileOutput,
           WebRtcPeer, RTCPeerConnection)


def open_descriptors() -> dict[str, int]:
    """This process's sockets and pipes (the server's, the child writers', the test's own)."""
    counts = {"socket": 0, "pipe": 0}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        kind = target.split(":")[0]
        if kind in counts:
            counts[kind] += 1
    return counts


def writer_processes() -> list[int]:
    """Children of this process that write broadcast destinations."""
    children = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and b"server.transports.remux" in cmdline:
            children.append(int(pid))
    return children


def snapshot() -> tuple:
    """Tasks, threads, live objects of a broadcast's graph, descriptors and writer processes, now."""
    counts = live_objects(classes=TRACKED)
    objects = live_objects()  # the session graph's objects
    return len(asyncio.all_tasks()), session_threads(), counts, open_descriptors(), writer_processes(), objects


async def one_full_broadcast(api: Api, rtmp_url: str, name: str) -> None:
    """A broadcast with every kind of output this server makes, a WHEP viewer and a control socket, talking."""
    broadcast = await api.create([{"rtmp": rtmp_url}, {"file": name}])
    await api.wait_for_state(broadcast, "live", output=0)
    viewer = WhepViewer()
    await viewer.join(api, broadcast)
    async with api.http.ws_connect(f"{api.base}/ws?broadcast={broadcast}") as ws:
        await ws.send_json({"type": "say", "text": "Everything this broadcast holds is released after DELETE."})
        async with asyncio.timeout(20):
            while (await ws.receive_json())["type"] != "speech_started":
                pass
        assert (await api.describe(broadcast))["viewers"] == 1
        await api.delete(broadcast)
    await viewer.close()


async def settled(server) -> tuple:
    async with asyncio.timeout(15):
        while server.services.sessions or writer_processes():
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    return snapshot()


async def test_nothing_left_after_delete(api, server):
    earlier = tracked_objects(TRACKED)
    with NginxRtmp() as rtmp:
        await one_full_broadcast(api, rtmp.url("warmup"), "warmup.mp4")  # starts the shared pools, loads models
        before = await settled(server)
        await one_full_broadcast(api, rtmp.url("show"), "show.mp4")
        after = await settled(server)
    assert after == before
    writers = after[4]
    counts = live_objects(earlier, TRACKED)
    assert all(count == 0 for count in counts.values()) and not writers, (counts, writers)
