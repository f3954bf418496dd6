"""Every route that names a session reaches the worker process holding it, through a node's routing front (real
server processes, two workers): a broadcast's HTTP steering, its control websocket and its WHEP viewers, and the
LiveTalking routes (`sessionid` in a JSON body, a query string, a multipart form after its file, a WHEP path).
With one session on each worker, a request routed to the other worker would get not_found."""
from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.request
import wave
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from harness.server_process import ServerProcess
from tests.broadcast_support import Api
from tests.livetalking_client import LiveTalkingClient

pytestmark = pytest.mark.slow

SDP = {"Content-Type": "application/sdp"}


def worker_sessions(node: ServerProcess) -> list[int]:
    with urllib.request.urlopen(node.base_url + "/healthz", timeout=10) as response:
        return sorted(w["sessions"] for w in json.loads(response.read())["workers"])


async def until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def node():
    with ServerProcess(["--workers", "2", "--max-sessions", "4", "--tts", "espeak"]) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def whep_offer() -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc


async def test_a_broadcast_is_steered_watched_and_ended_on_its_worker(node, http):
    api = Api(node, http)
    broadcasts = [await api.create([]), await api.create([])]
    try:
        await until(lambda: worker_sessions(node) == [1, 1])
        for broadcast in broadcasts:
            base = f"/v1/broadcasts/{broadcast}"
            assert (await api.describe(broadcast))["id"] == broadcast
            async with http.ws_connect(f"{api.base}/ws?broadcast={broadcast}") as ws:
                await api.say(broadcast, "Hello over HTTP.")
                async with asyncio.timeout(20):
                    while (await ws.receive_json())["type"] != "speech_ended":
                        pass
            pc = await whep_offer()
            try:
                status, answer = await api.call("POST", f"{base}/whep", data=pc.localDescription.sdp, headers=SDP)
                assert status == 201 and answer.startswith("v=0"), answer
                assert (await api.describe(broadcast))["viewers"] == 1
            finally:
                await pc.close()
            assert (await api.call("POST", f"{base}/interrupt", json={}))[0] == 202
    finally:
        for broadcast in broadcasts:
            await api.delete(broadcast)
    await until(lambda: worker_sessions(node) == [0, 0])


def wav(seconds: float) -> bytes:
    tone = (3000 * np.sin(np.arange(int(48_000 * seconds)) * 2 * np.pi * 220 / 48_000)).astype(np.int16)
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(48_000)
        file.writeframes(tone.tobytes())
    return out.getvalue()


async def test_livetalking_requests_reach_the_worker_holding_their_session(node, http):
    clients = [LiveTalkingClient(node.base_url, http) for _ in range(2)]
    try:
        for client in clients:
            await client.start()
        await until(lambda: worker_sessions(node) == [1, 1])
        for client in clients:
            await client.listen()  # /sse?sessionid=...
            assert await client.post("/human", {"sessionid": client.sessionid, "text": "Hi.", "type": "echo"}) == {
                "code": 0, "msg": "ok"}
            await client.wait_for("speech_ended", timeout=20)
            form = aiohttp.FormData()
            form.add_field("file", wav(0.5), filename="tone.wav", content_type="audio/wav")  # before its sessionid
            form.add_field("sessionid", str(client.sessionid))
            async with http.post(node.base_url + "/humanaudio", data=form) as response:
                assert await response.json() == {"code": 0, "msg": "ok"}
            assert (await client.post("/is_speaking", {"sessionid": client.sessionid}))["code"] == 0
    finally:
        for client in clients:
            await client.stop()
    await until(lambda: worker_sessions(node) == [0, 0])


async def test_livetalking_whep_sessions_are_deleted_on_their_worker(node, http):
    peers = [await whep_offer(), await whep_offer()]
    try:
        locations = []
        for pc in peers:
            async with http.post(node.base_url + "/whep", data=pc.localDescription.sdp, headers=SDP) as response:
                assert response.status == 201, await response.text()
                assert response.headers["Location"] == f"/whep/{response.headers['X-Session-ID']}"
                locations.append(response.headers["Location"])
        await until(lambda: worker_sessions(node) == [1, 1])
        for location in locations:
            async with http.delete(node.base_url + location) as response:
                assert (await response.json())["code"] == 0
    finally:
        for pc in peers:
            await pc.close()
    await until(lambda: worker_sessions(node) == [0, 0])
