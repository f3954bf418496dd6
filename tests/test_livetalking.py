"""The LiveTalking-compatible routes, driven the way LiveTalking's clients drive them (tests/livetalking_client.py):
a session opened with /offer or /whep speaks through /human and /humanaudio, stops on /interrupt_talk, says
whether it speaks, streams its events on /sse, and is a normal session (limits, teardown). A wrong `sessionid`
or a malformed request gets a non-zero `code`, never a crash."""
from __future__ import annotations

import asyncio
import gc
import io
import wave
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from engines.avatar import load_avatar
from server.api.live_session import LiveSession
from server.api.livetalking_session import EventStream, LiveTalkingSession
from server.app import AvatarServer
from tests.conftest import make_config
from tests.livetalking_client import LiveTalkingClient
from tests.media_checks import audio_rms, mouth_change
from tests.test_session_cleanup import live_objects, settle, tracked_objects

LONG_TEXT = (
    "This is a rather long sentence, spoken slowly and clearly, so that there is plenty of time to interrupt "
    "the avatar before it reaches the end of everything it was asked to say today."
)


@pytest.fixture
def base(server) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def talking(base, http) -> AsyncIterator[LiveTalkingClient]:
    client = LiveTalkingClient(base, http)
    await client.start()
    await client.wait_for_media()
    await client.listen()
    yield client
    await client.stop()


def session_objects() -> dict[str, int]:
    """The /ws session graph's objects (tests/test_session_cleanup.py) and those of a LiveTalking session."""
    counts = live_objects()
    for cls in (LiveTalkingSession, LiveSession, EventStream):
        counts[cls.__name__] = sum(isinstance(obj, cls) for obj in gc.get_objects())
    return counts


async def until(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_livetalking_page_flow_echo_interrupt_is_speaking_sse(server, talking):
    client = talking
    assert isinstance(client.sessionid, int)
    assert await client.post("/is_speaking", {"sessionid": client.sessionid}) == {"code": 0, "msg": "ok", "data": False}

    # Older pages send parseInt(sessionid), newer ones String(sessionid): both name the session.
    first = {"text": LONG_TEXT, "type": "echo", "interrupt": True, "sessionid": client.sessionid}
    reply = await client.post("/human", first)
    assert reply == {"code": 0, "msg": "ok"}
    started = await client.wait_for("speech_started")
    assert (await client.post("/is_speaking", {"sessionid": str(client.sessionid)}))["data"] is True
    await client.wait_for("word")
    await asyncio.sleep(0.8)
    assert audio_rms(client.audio, started["_at"], started["_at"] + 0.8) > 500

    # interrupt: true stops the first utterance before the second one starts
    count = len(client.events)
    second = {"text": "Second.", "type": "echo", "interrupt": True, "sessionid": str(client.sessionid)}
    assert (await client.post("/human", second))["code"] == 0
    ended = await client.wait_for("speech_ended", after=count)
    assert ended["utterance"] == started["utterance"] and ended["interrupted"] is True
    assert ended["spoken_text"] and ended["spoken_text"] != LONG_TEXT
    restarted = await client.wait_for("speech_started", after=count)
    assert restarted["utterance"] == started["utterance"] + 1
    # (after the second utterance's start: a word of the first may still have come between the two)
    second_ended = await client.wait_for("speech_ended", after=client.events.index(restarted) + 1)
    assert second_ended["utterance"] == restarted["utterance"] and second_ended["spoken_text"] == "Second."

    # /interrupt_talk stops speech; afterwards the session says it is quiet
    count = len(client.events)
    third = {"text": LONG_TEXT, "type": "echo", "sessionid": client.sessionid}
    assert (await client.post("/human", third))["code"] == 0
    await client.wait_for("speech_started", after=count)
    assert await client.post("/interrupt_talk", {"sessionid": client.sessionid}) == {"code": 0, "msg": "ok"}
    assert (await client.wait_for("speech_ended", after=count))["interrupted"] is True
    assert (await client.post("/is_speaking", {"sessionid": client.sessionid}))["data"] is False

    # the page's stop(): closing the peer connection ends the session, and its /sse stream says so
    await client.pc.close()
    ended = await client.wait_for("session_ended")
    assert "peer connection" in ended["reason"]
    await settle(server)


@pytest.mark.parametrize("server_options", [{"max_sessions": 2}])
async def test_wrong_sessionid_and_bad_requests_get_nonzero_codes(server, base, http, talking):
    bad_ids = [None, 0, "0", "abc", 123456, True, 1.5, [1], {"id": 1}, "9" * 400]
    for route in ("/human", "/interrupt_talk", "/is_speaking"):
        for sessionid in bad_ids:
            payload = {"text": "hi", "type": "echo", **({} if sessionid is None else {"sessionid": sessionid})}
            async with http.post(base + route, json=payload) as response:
                assert response.status == 200
                body = await response.json()
            assert body["code"] != 0 and body["msg"], (route, sessionid, body)
            assert body["error"] in ("no_session", "bad_message"), body
    # a /ws session is no LiveTalking session: its id cannot be used here
    async with http.ws_connect(base.replace("http", "ws") + "/ws") as ws:
        await ws.send_json({"type": "offer", "sdp": "v=0\r\n", "avatar": "nobody"})
        await ws.receive_json()
        ws_id = next(iter(k for k, v in server.services.sessions.items() if not isinstance(v, LiveTalkingSession)))
        ws_session = await talking.post("/is_speaking", {"sessionid": ws_id})
    assert ws_session["code"] != 0 and ws_session["error"] == "no_session"

    sid = talking.sessionid
    cases = [
        ("/human", b"{nope", "bad_json"),
        ("/human", b"[1, 2]", "bad_message"),
        ("/human", {"sessionid": sid, "type": "echo"}, "bad_message"),
        ("/human", {"sessionid": sid, "type": "echo", "text": 12}, "bad_message"),
        ("/human", {"sessionid": sid, "type": "sing", "text": "la"}, "bad_message"),
        ("/human", {"sessionid": sid, "type": "echo", "text": "a " * 40_000}, "too_large"),
        ("/human", {"sessionid": sid, "type": "chat", "text": "hello?"}, "no_llm"),
        ("/record", {"sessionid": sid, "type": "start_record"}, "not_supported"),
        ("/set_audiotype", {"sessionid": sid, "audiotype": 2, "reinit": True}, "not_supported"),
        ("/offer", {"type": "offer"}, "bad_message"),
        ("/offer", {"type": "answer", "sdp": "v=0\r\n"}, "bad_offer"),
        ("/offer", {"type": "offer", "sdp": "not sdp"}, "bad_offer"),
        ("/offer", {"type": "offer", "sdp": "v=0\r\n", "avatar": "nobody"}, "unknown_avatar"),
        ("/humanaudio", {"sessionid": sid}, "bad_message"),
    ]
    for route, body, code in cases:
        kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
        async with http.post(base + route, **kwargs) as response:
            answer = await response.json()
        assert answer["code"] == -1 and answer["error"] == code and answer["msg"], (route, body, answer)

    form = aiohttp.FormData({"sessionid": str(sid)})
    form.add_field("file", b"this is not audio", filename="x.wav")
    async with http.post(base + "/humanaudio", data=form) as response:
        assert (await response.json())["error"] == "bad_message"
    form = aiohttp.FormData({"sessionid": "42"})
    form.add_field("file", _wav(np.zeros(1600, dtype=np.int16), 16_000), filename="x.wav")
    async with http.post(base + "/humanaudio", data=form) as response:
        assert (await response.json())["error"] == "no_session"

    async with http.get(base + "/sse", params={"sessionid": "42"}) as response:
        assert response.status == 404 and (await response.json())["code"] == -1
    counted = server.services.metrics.registry.get_sample_value("avatar_errors_total", {"code": "no_session"})
    assert counted >= 3 * 6, counted  # refusals count in /metrics as the websocket's do

    # every refusal left the session speaking
    count = len(talking.events)
    assert (await talking.post("/human", {"sessionid": sid, "type": "echo", "text": "Still here."}))["code"] == 0
    assert (await talking.wait_for("speech_ended", after=count))["spoken_text"] == "Still here."
    assert not [e for e in talking.events if e["type"] == "error"]


async def test_humanaudio_is_spoken_with_a_moving_mouth(server, base, http, talking):
    engine, voice = server.services.voices.resolve("piper:joe")
    speech = engine.synthesize("Hello from an uploaded recording. My mouth should move while you hear this.", voice)
    await asyncio.sleep(1.5)  # idle
    idle_end = talking.video[-1].arrival
    form = aiohttp.FormData({"sessionid": str(talking.sessionid)})
    form.add_field("file", _wav(speech.pcm, speech.sample_rate), filename="speech.wav", content_type="audio/wav")
    async with http.post(base + "/humanaudio", data=form) as response:
        assert await response.json() == {"code": 0, "msg": "ok"}
    started = await talking.wait_for("speech_started")
    ended = await talking.wait_for("speech_ended", timeout=20)
    assert ended["interrupted"] is False and ended["spoken_text"] == ""
    assert not [e for e in talking.events if e["type"] == "word"]  # uploaded audio has no text
    heard = ended["_at"] - started["_at"]
    assert abs(heard - speech.duration) < 0.6, (heard, speech.duration)

    assert audio_rms(talking.audio, started["_at"], ended["_at"]) > 800
    box = load_avatar(server.config.avatar).mouth_box
    idle_motion = np.median(mouth_change(talking.video, box, idle_end - 1.2, idle_end))
    speech_motion = np.median(mouth_change(talking.video, box, started["_at"], ended["_at"]))
    assert speech_motion > 3 * idle_motion + 0.5, (speech_motion, idle_motion)


@pytest.mark.parametrize("server_options", [{"livetalking": {"max_audio_s": 2.0}}])
async def test_humanaudio_limits(server, base, http, talking):
    tone = (3000 * np.sin(np.arange(48_000 * 3) * 2 * np.pi * 220 / 48_000)).astype(np.int16)

    async def upload(seconds: float) -> dict:
        form = aiohttp.FormData({"sessionid": str(talking.sessionid)})
        form.add_field("file", _wav(tone[: int(48_000 * seconds)], 48_000), filename="tone.wav")
        async with http.post(base + "/humanaudio", data=form) as response:
            return await response.json()

    assert (await upload(3.0))["error"] == "too_large"  # longer than the limit by itself
    assert (await upload(1.5))["code"] == 0
    assert (await upload(1.5))["error"] == "too_large"  # the first is still waiting or playing
    await talking.wait_for("speech_ended", timeout=15)
    assert (await upload(1.5))["code"] == 0


async def test_whep_session_plays_and_ends_on_delete(server, base, http):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    frames = []
    pc.on("track", lambda track: asyncio.ensure_future(_count(track, frames)))
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp", "Origin": "http://player.example"}
    async with http.post(base + "/whep", data=pc.localDescription.sdp, headers=headers) as response:
        assert response.status == 201 and response.content_type == "application/sdp"
        answer = await response.text()
        sessionid, location = response.headers["X-Session-ID"], response.headers["Location"]
        assert "X-Session-ID" in response.headers["Access-Control-Expose-Headers"]
    assert location == f"/whep/{sessionid}"
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await until(lambda: len(frames) > 10)
    async with http.post(base + "/human", json={"sessionid": sessionid, "text": "Hi.", "type": "echo"}) as response:
        assert (await response.json())["code"] == 0
    async with http.delete(base + location) as response:
        assert response.status == 200
    await settle(server)
    async with http.delete(base + location) as response:
        assert response.status == 404
    async with http.post(base + "/whep", data="v=0", headers={"Content-Type": "text/plain"}) as response:
        assert response.status == 415
    async with http.post(base + "/whep", data="nonsense", headers={"Content-Type": "application/sdp"}) as response:
        assert response.status == 400 and (await response.json())["error"] == "bad_offer"
    await pc.close()


async def _count(track, frames: list) -> None:
    while True:
        frames.append(await track.recv())


@pytest.mark.parametrize("server_options", [{"max_sessions": 1}])
async def test_offer_when_full_is_refused(server, base, http, talking):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with http.post(base + "/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"}) as response:
        refused = await response.json()
    assert refused["code"] == -1 and refused["error"] == "busy" and "sdp" not in refused
    sdp_type = {"Content-Type": "application/sdp"}
    async with http.post(base + "/whep", data=pc.localDescription.sdp, headers=sdp_type) as response:
        assert response.status == 503
    await pc.close()
    assert len(server.services.sessions) == 1


@pytest.mark.parametrize("server_options", [{"limits": {"ice_timeout_s": 1.5}}])
async def test_peer_that_never_connects_is_torn_down(server, base, http):
    baseline = session_objects()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with http.post(base + "/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"}) as response:
        sessionid = (await response.json())["sessionid"]  # the answer is never applied: ICE cannot complete
    assert len(server.services.sessions) == 1
    async with http.get(base + "/sse", params={"sessionid": sessionid}) as response:
        body = await asyncio.wait_for(response.text(), 10)  # the stream ends with the session
    assert '"type":"session_ended"' in body and "ICE did not connect" in body
    await pc.close()
    del pc
    await settle(server)
    assert session_objects() == baseline


async def test_nothing_left_after_a_livetalking_session(server, base, http):
    earlier = tracked_objects()
    warmup = LiveTalkingClient(base, http)
    await warmup.start()
    await warmup.wait_for_media()
    await warmup.stop()
    del warmup
    await settle(server)
    baseline = session_objects()

    client = LiveTalkingClient(base, http)
    await client.start()
    await client.wait_for_media()
    await client.listen()
    await client.post("/human", {"sessionid": client.sessionid, "text": LONG_TEXT, "type": "echo"})
    await client.wait_for("speech_started")
    await client.stop()
    del client
    await settle(server)
    assert session_objects() == baseline
    assert all(count == 0 for count in live_objects(earlier).values()), live_objects(earlier)


async def test_server_stop_ends_livetalking_sessions(http):
    server = AvatarServer(make_config())
    await server.start()
    client = LiveTalkingClient(f"http://127.0.0.1:{server.port}", http)
    try:
        await client.start()
        await client.wait_for_media()
        await client.listen()
        async with asyncio.timeout(20):
            await server.stop()
        assert (await client.wait_for("session_ended"))["reason"] == "server stopping"
        assert len(server.services.sessions) == 0
    finally:
        await client.stop()


async def test_cors_preflight_and_headers(server, base, http):
    origin = "http://other.example:3000"
    preflight = {
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"
    }
    async with http.options(base + "/human", headers=preflight) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Headers"] == "content-type"
    async with http.post(base + "/is_speaking", json={"sessionid": 1}, headers={"Origin": origin}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert (await response.json())["code"] == -1


@pytest.mark.parametrize(
    "server_options", [{"token": "s3cret", "livetalking": {"cors_origins": ("http://ok.example",)}}]
)
async def test_token_and_cors_origins_are_enforced(server, base, http):
    async with http.post(base + "/is_speaking", json={"sessionid": 1}) as response:
        assert response.status == 401 and (await response.json())["error"] == "unauthorized"
    for auth in ({"params": {"token": "s3cret"}}, {"headers": {"Authorization": "Bearer s3cret"}}):
        async with http.post(base + "/is_speaking", json={"sessionid": 1}, **auth) as response:
            assert response.status == 200 and (await response.json())["error"] == "no_session"
    async with http.options(base + "/human", headers={"Origin": "http://evil.example"}) as response:
        assert "Access-Control-Allow-Origin" not in response.headers
    async with http.options(base + "/human", headers={"Origin": "http://ok.example"}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "http://ok.example"


def _wav(pcm: np.ndarray, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.asarray(pcm, dtype=np.int16).tobytes())
    return out.getvalue()
