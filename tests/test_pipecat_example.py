"""The example Pipecat bot (examples/pipecat_bot.py) end to end: its page, and a WebRTC peer doing what the page
does (an offer to /api/offer, the microphone out, the avatar back) against Pipecat's SmallWebRTC transport. With no
LLM configured the bot greets whoever connects, with Pipecat's Piper service and the avatar in this process."""
from __future__ import annotations

import asyncio
import importlib.util
import time

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from client import LiveAudioTrack
from client.lipsync import mouth_opening
from engines.avatar import load_avatar
from integrations.runtime import AvatarRuntime
from server.transports.webrtc.ice import restrict_ice_hosts
from tests.browser_support import REPO, free_port


def load_example():
    spec = importlib.util.spec_from_file_location("pipecat_bot", REPO / "examples" / "pipecat_bot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def bot_url():
    restrict_ice_hosts(["127.0.0.1"])
    example = load_example()
    port = free_port()
    runner = web.AppRunner(example.create_app(example.parse_args(["--port", str(port)]), AvatarRuntime()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_pipecat_example_bot_greets_a_webrtc_peer_with_a_talking_face(bot_url):
    received: dict[str, list] = {"audio": [], "video": []}

    async def consume(track, kind: str) -> None:
        try:
            while True:
                frame = await track.recv()
                received[kind].append((time.monotonic(), frame))
        except MediaStreamError:
            pass

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(LiveAudioTrack(), direction="sendrecv")  # a quiet microphone
    pc.addTransceiver("video", direction="recvonly")
    tasks = []
    pc.on("track", lambda track: tasks.append(asyncio.create_task(consume(track, track.kind))))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{bot_url}/") as response:
                assert response.status == 200 and "RTCPeerConnection" in await response.text()
            async with http.post(f"{bot_url}/api/offer", json={"type": "answer", "sdp": ""}) as response:
                assert response.status == 400
            await pc.setLocalDescription(await pc.createOffer())
            offer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
            async with http.post(f"{bot_url}/api/offer", json=offer) as response:
                answer = await response.json()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        await asyncio.sleep(9.0)  # connect, greet (about four seconds of speech), then rest
    finally:
        await pc.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    video = [frame for _, frame in received["video"]]
    assert len(video) > 100 and (video[0].width, video[0].height) == (512, 512)
    box = load_avatar("astronaut").mouth_box
    opening = np.array([mouth_opening(frame.to_ndarray(format="rgb24"), box) for frame in video[::2]])
    loudness = np.array([np.abs(frame.to_ndarray()).max() for _, frame in received["audio"]])
    assert (loudness > 3000).sum() > 50  # the greeting was heard: a second and more of loud 20 ms frames
    # The mouth spoke it (at the conversational amplitude running speech opens to: 0.09-0.13 of the mouth box at its
    # widest here, about 0.007 at rest), and rested.
    assert opening.max() > 0.06 and opening.min() < 0.03
