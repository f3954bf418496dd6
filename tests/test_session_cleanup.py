"""A session leaves nothing behind, whatever ends it: counted in tasks, threads and live objects."""
from __future__ import annotations

import asyncio
import gc
import json
import threading

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from websockets.asyncio.client import connect

from client import AvatarClient
from server.api.ws_session import WsSession
from server.pipeline.media import SessionMedia
from server.pipeline.session import SessionPipeline
from server.pipeline.speaker import Speaker
from server.transports.webrtc.tracks import SessionAudioTrack, SessionVideoTrack

TRACKED = (WsSession, SessionPipeline, Speaker, SessionMedia, SessionAudioTrack, SessionVideoTrack, RTCPeerConnection)


def tracked_objects(classes: tuple[type, ...] = TRACKED) -> list[object]:
    """The objects of `classes` alive now (held by the caller, so that their ids stay theirs)."""
    gc.collect()
    return [obj for obj in gc.get_objects() if isinstance(obj, classes)]


def live_objects(earlier: list[object] = (), classes: tuple[type, ...] = TRACKED) -> dict[str, int]:
    """Live objects of the session graph (or of `classes`) by class, leaving out `earlier` ones: what earlier tests
    of this process left alive (an in-process framework's test double, say) is not the server's to answer for."""
    skip = {id(obj) for obj in earlier}
    counts = {cls.__name__: 0 for cls in classes}
    for obj in tracked_objects(classes):
        if id(obj) not in skip:
            for cls in classes:
                counts[cls.__name__] += isinstance(obj, cls)
    return counts


async def settle(server, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while server.services.sessions:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


# Workers of the process-wide pools (bounded, and started lazily, so their count may grow up to the bound).
POOL_THREADS = ("ThreadPoolExecutor-", "render_", "encode_", "tts_", "face-infer_", "asyncio_")


def session_threads() -> list[str]:
    """Threads that are not pool workers: a session that started one and left it running would show here."""
    return sorted(t.name for t in threading.enumerate() if not t.name.startswith(POOL_THREADS))


def snapshot() -> tuple[int, list[str], dict[str, int]]:
    return len(asyncio.all_tasks()), session_threads(), live_objects()


async def speaking_session(ws_url: str) -> AvatarClient:
    client = await AvatarClient.connect(ws_url)
    await client.wait_for_media()
    await client.say("This utterance is cut off by whatever ends the session, long before it is over.")
    await client.wait_for("speech_started", timeout=10)
    return client


async def end_with_bye(client: AvatarClient) -> None:
    await client.close()


async def end_by_vanishing(client: AvatarClient) -> None:
    client._ws.transport.abort()  # no bye, no close handshake: the network just went away
    await client._pc.close()
    await client.close()


@pytest.mark.parametrize("ending", [end_with_bye, end_by_vanishing])
async def test_nothing_left_after_session_ends(server, ws_url, ending):
    earlier = tracked_objects()
    warmup = await speaking_session(ws_url)  # starts the shared worker pools and loads models
    await warmup.close()
    del warmup
    await settle(server)
    tasks, threads, objects = snapshot()

    client = await speaking_session(ws_url)
    assert len(server.services.sessions) == 1
    await ending(client)
    del client
    await settle(server)

    assert snapshot() == (tasks, threads, objects)
    assert all(count == 0 for count in live_objects(earlier).values()), live_objects(earlier)


SERVER_SIDE = (WsSession, SessionPipeline, Speaker, SessionMedia, SessionAudioTrack, SessionVideoTrack)


async def test_a_session_ended_mid_speech_is_freed_without_the_cycle_collector(server, ws_url):
    """Freed as it ends, not at the collector's next full run (minutes apart on a big heap): a reference cycle
    would keep the session's audio, renderer and face state, and a server whose sessions come and go would grow."""
    earlier = tracked_objects(SERVER_SIDE)
    gc.disable()
    try:
        client = await speaking_session(ws_url)
        await asyncio.sleep(0.5)
        await client.close()
        del client
        await settle(server)
        skip = {id(obj) for obj in earlier}
        left = [type(obj).__name__ for obj in gc.get_objects()
                if issubclass(type(obj), SERVER_SIDE) and id(obj) not in skip]
    finally:
        gc.enable()
    assert left == []


@pytest.mark.parametrize("server_options", [{"limits": {"ice_timeout_s": 1.5}}])
async def test_session_without_ice_is_torn_down(server, ws_url):
    baseline = live_objects()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
        answer = json.loads(await ws.recv())
        assert answer["type"] == "answer"  # but never applied: ICE cannot complete
        await asyncio.wait_for(ws.wait_closed(), 10)
    await pc.close()
    del pc
    await settle(server)
    assert live_objects() == baseline


@pytest.mark.parametrize("server_options", [{"limits": {"ice_timeout_s": 1.0}}])
async def test_silent_websocket_is_closed(server, ws_url):
    async with connect(ws_url) as ws:
        await asyncio.wait_for(ws.wait_closed(), 10)
    await settle(server)
