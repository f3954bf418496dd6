"""The broadcast API of docs/protocol.md against a running server: every bad request gets its documented code in
the documented shape and creates nothing; the token rule; the control websocket; the session limit; /healthz and
/metrics."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from server.config import BroadcastSettings
from tests.broadcast_support import Api

pytestmark = pytest.mark.slow

RTMP = "rtmp://127.0.0.1:1/live/key"  # nothing listens there: the output retries, the broadcast goes on


@pytest.fixture
def server_options(tmp_path) -> dict:
    settings = BroadcastSettings(recordings=tmp_path / "recordings", max_outputs=3, max_whep_viewers=1)
    return {"tts": "espeak", "max_sessions": 2, "broadcast": settings}


@pytest.fixture
async def api(server) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(server, http)


def assert_error(status: int, body, expected_status: int, code: str) -> None:
    assert status == expected_status, (status, body)
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body


BAD_CREATIONS = [
    ("{not json", 400, "bad_json"),
    ("[1, 2]", 400, "bad_message"),
    ({}, 400, "bad_message"),
    ({"outputs": RTMP}, 400, "bad_output"),
    ({"outputs": [RTMP]}, 400, "bad_output"),
    ({"outputs": [{}]}, 400, "bad_output"),
    ({"outputs": [{"smtp": "mail.example"}]}, 400, "bad_output"),
    ({"outputs": [{"rtmp": RTMP, "file": "a.mp4"}]}, 400, "bad_output"),
    ({"outputs": [{"rtmp": 5}]}, 400, "bad_output"),
    ({"outputs": [{"rtmp": "http://127.0.0.1/live/key"}]}, 400, "bad_output"),
    ({"outputs": [{"rtmp": "rtmp://127.0.0.1/live"}]}, 400, "bad_output"),
    ({"outputs": [{"rtmp": "rtmp:///live/key"}]}, 400, "bad_output"),
    ({"outputs": [{"rtmp": "rtmp://127.0.0.1:99999/live/key"}]}, 400, "bad_output"),
    ({"outputs": [{"rtmp": "rtmp://127.0.0.1/live/key with space"}]}, 400, "bad_output"),
    ({"outputs": [{"file": "../escape.mp4"}]}, 400, "bad_output"),
    ({"outputs": [{"file": "sub/dir.mp4"}]}, 400, "bad_output"),
    ({"outputs": [{"file": "/etc/passwd"}]}, 400, "bad_output"),
    ({"outputs": [{"file": "a..b.mp4"}]}, 400, "bad_output"),
    ({"outputs": [{"file": ".hidden.mp4"}]}, 400, "bad_output"),
    ({"outputs": [{"file": "talk.mkv"}]}, 400, "bad_output"),
    ({"outputs": [{"file": ""}]}, 400, "bad_output"),
    ({"outputs": [{"file": "taken.mp4"}]}, 400, "bad_output"),
    ({"outputs": [{"rtmp": RTMP}, {"rtmp": RTMP}]}, 400, "bad_output"),
    ({"outputs": [{"rtmp": f"{RTMP}{n}"} for n in range(4)]}, 400, "bad_output"),
    ({"outputs": [{"rtmp": RTMP}, {"file": "../x.mp4"}]}, 400, "bad_output"),
    ({"avatar": "nobody", "outputs": []}, 400, "unknown_avatar"),
    ({"voice": "espeak:klingon", "outputs": []}, 400, "unknown_voice"),
    ({"avatar": 5, "outputs": []}, 400, "bad_message"),
    ({"outputs": [], "padding": "x" * 70_000}, 413, "too_large"),
]


async def test_bad_creations_get_their_code_and_create_nothing(api, server):
    recordings = server.config.broadcast.recordings
    recordings.mkdir(parents=True)
    (recordings / "taken.mp4").write_bytes(b"an earlier recording")
    for body, status, code in BAD_CREATIONS:
        sent = {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, str) else {"json": body}
        assert_error(*await api.call("POST", "/v1/broadcasts", **sent), status, code)
    assert len(server.services.sessions) == 0
    assert sorted(p.name for p in recordings.iterdir()) == ["taken.mp4"]


async def test_bad_requests_to_a_broadcast(api):
    broadcast = await api.create([{"rtmp": RTMP}])
    base = f"/v1/broadcasts/{broadcast}"
    for method, path in [("GET", "/v1/broadcasts/nope"), ("DELETE", "/v1/broadcasts/nope"),
                         ("POST", "/v1/broadcasts/nope/say"), ("GET", "/v1/nothing/here"),
                         ("DELETE", f"{base}/whep/nope")]:
        assert_error(*await api.call(method, path, json={"text": "hi"}), 404, "not_found")
    for body, status, code in [({}, 400, "bad_message"), ({"text": 5}, 400, "bad_message"),
                               ({"text": "hi", "id": 3}, 400, "bad_message"), ("nope", 400, "bad_json"),
                               ({"text": "a" * 20_001}, 413, "too_large")]:
        sent = {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, str) else {"json": body}
        assert_error(*await api.call("POST", f"{base}/say", **sent), status, code)
    assert_error(*await api.call("POST", f"{base}/text", json={"text": None}), 400, "bad_message")
    for route, body in [("text", {"text": "Hel", "id": "t1"}), ("text", {"text": "lo."}), ("flush", None),
                        ("interrupt", None), ("say", {"text": "Hi."})]:
        status, answer = await api.call("POST", f"{base}/{route}", json=body)
        assert status == 202, (route, answer)

    sdp = {"Content-Type": "application/sdp"}
    assert_error(*await api.call("POST", f"{base}/whep", data="v=0", headers={"Content-Type": "text/plain"}),
                 400, "bad_offer")
    assert_error(*await api.call("POST", f"{base}/whep", data="not an offer", headers=sdp), 400, "bad_offer")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        status, answer = await api.call("POST", f"{base}/whep", data=pc.localDescription.sdp, headers=sdp)
        assert status == 201 and answer.startswith("v=0"), answer
        assert_error(*await api.call("POST", f"{base}/whep", data=pc.localDescription.sdp, headers=sdp), 503, "busy")
    finally:
        await pc.close()

    for name in ["nope.mp4", "..%2F..%2Fetc%2Fpasswd", ".taken.mp4.part"]:
        assert_error(*await api.call("GET", f"/v1/recordings/{name}"), 404, "not_found")
    await api.delete(broadcast)
    assert_error(*await api.call("GET", base), 404, "not_found")


async def test_session_limit_counts_broadcasts(api, server):
    first = await api.create([])
    second = await api.create([{"rtmp": RTMP}])
    assert len(server.services.sessions) == 2
    assert_error(*await api.call("POST", "/v1/broadcasts", json={"outputs": []}), 503, "busy")
    health = await (await api.http.get(api.base + "/healthz")).json()
    assert health["sessions"] == 2 and {b["id"] for b in health["broadcasts"]} == {first, second}
    rtmp = next(b for b in health["broadcasts"] if b["id"] == second)["outputs"][0]
    assert rtmp["kind"] == "rtmp" and rtmp["state"] in ("connecting", "retrying") and "key" not in rtmp["url"]
    metrics = await (await api.http.get(api.base + "/metrics")).text()
    assert "avatar_broadcasts_active 2.0" in metrics and 'avatar_errors_total{code="busy"} 1.0' in metrics
    assert f'avatar_broadcast_output_reconnects_total{{broadcast="{second}",kind="rtmp",output="0"}}' in metrics
    await api.delete(first)
    await api.delete(second)
    assert len(server.services.sessions) == 0


async def test_control_websocket(api):
    broadcast = await api.create([])
    status, body = await api.call("GET", "/ws?broadcast=nope")
    assert_error(status, body, 404, "not_found")
    async with api.http.ws_connect(f"{api.base}/ws?broadcast={broadcast}") as ws:
        refused = [({"type": "offer", "sdp": "v=0"}, "bad_offer"), ({"type": "ice", "candidate": None}, "bad_message"),
                   ("{", "bad_json"), ({"type": "dance"}, "unknown_type"), ({"type": "say"}, "bad_message"),
                   ({"type": "set", "avatar": "nobody"}, "unknown_avatar")]
        for message, code in refused:
            await ws.send_str(message if isinstance(message, str) else json.dumps(message))
            event = await ws.receive_json(timeout=5)
            assert event["type"] == "error" and event["code"] == code, (message, event)
        await ws.send_json({"type": "say", "text": "Hello from the control socket.", "id": "ws-1"})
        await api.say(broadcast, "And hello over HTTP.")  # its events reach the control socket too
        events = []
        async with asyncio.timeout(20):
            while sum(e["type"] == "speech_ended" for e in events) < 2:
                events.append(await ws.receive_json())
        started = [e for e in events if e["type"] == "speech_started"]
        assert [e["id"] for e in started] == ["ws-1", None] and any(e["type"] == "word" for e in events)
        await ws.send_json({"type": "bye"})
        assert (await ws.receive(timeout=5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert (await api.describe(broadcast))["id"] == broadcast  # bye ends the control connection, not the broadcast
    async with api.http.ws_connect(f"{api.base}/ws?broadcast={broadcast}") as ws:
        await api.delete(broadcast)
        assert (await ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


@pytest.mark.parametrize("server_options", [{"tts": "espeak", "token": "s3cret"}])
async def test_token_guards_every_v1_route(server):
    async with aiohttp.ClientSession() as http:
        anonymous, bearer = Api(server, http), Api(server, http, token="s3cret")
        for path in ["/v1/broadcasts", "/v1/broadcasts?token=wrong"]:
            assert_error(*await anonymous.call("POST", path, json={"outputs": []}), 401, "unauthorized")
        wrong = Api(server, http, token="wrong")
        assert_error(*await wrong.call("POST", "/v1/broadcasts", json={"outputs": []}), 401, "unauthorized")
        assert_error(*await anonymous.call("GET", "/v1/recordings/x.mp4"), 401, "unauthorized")
        broadcast = await bearer.create([])
        status, body = await anonymous.call("GET", f"/v1/broadcasts/{broadcast}?token=s3cret")
        assert status == 200 and body["id"] == broadcast
        assert_error(*await anonymous.call("GET", f"/v1/broadcasts/{broadcast}"), 401, "unauthorized")
        assert (await anonymous.call("GET", f"/ws?broadcast={broadcast}"))[0] == 401
        async with http.ws_connect(f"{anonymous.base}/ws?broadcast={broadcast}&token=s3cret") as ws:
            await ws.send_json({"type": "flush"})
        await bearer.delete(broadcast)


async def test_links_planted_in_the_recordings_folder_lead_nowhere(api, server, tmp_path):
    """Recording names are looked up by listing the folder and created only directly inside it: a link someone
    left there is neither served nor written through."""
    recordings = server.config.broadcast.recordings
    recordings.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"not for clients")
    (recordings / "served.mp4").symlink_to(outside / "secret.mp4")
    (recordings / "written.mp4").symlink_to(outside / "written.mp4")
    assert_error(*await api.call("GET", "/v1/recordings/served.mp4"), 404, "not_found")
    assert_error(*await api.call("POST", "/v1/broadcasts", json={"outputs": [{"file": "written.mp4"}]}),
                 400, "bad_output")
    assert not (outside / "written.mp4").exists() and len(server.services.sessions) == 0
