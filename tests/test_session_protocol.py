"""Every error code of docs/protocol.md, the session limit and the access token, against a running server.
A refused message never ends the session: each test goes on using it afterwards."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from client import AvatarClient, ServerError


async def next_event(ws, timeout: float = 10.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def expect_error(ws, raw, code: str) -> dict:
    await ws.send(raw)
    event = await next_event(ws)
    assert event["type"] == "error" and event["code"] == code, event
    assert event["message"]
    return event


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def get(url: str) -> tuple[int, bytes]:
    return await asyncio.to_thread(http_get, url)


async def test_errors_before_offer(ws_url):
    async with connect(ws_url) as ws:
        await expect_error(ws, "{nope", "bad_json")
        await expect_error(ws, "[]", "bad_message")
        await expect_error(ws, json.dumps({"type": "text"}), "bad_message")
        await expect_error(ws, b"\x00\x01binary", "bad_message")
        await expect_error(ws, json.dumps({"type": "sing"}), "unknown_type")
        await expect_error(ws, json.dumps({"type": "say", "text": "x" * 70_000}), "too_large")
        for kind in ("say", "text", "flush", "interrupt", "set", "ice"):
            await expect_error(ws, json.dumps({"type": kind, "text": "hi", "candidate": None}), "no_session")
        await expect_error(ws, json.dumps({"type": "offer", "sdp": "this is not sdp"}), "bad_offer")
        await expect_error(ws, json.dumps({"type": "offer", "sdp": "v=0\r\n", "avatar": "nobody"}), "unknown_avatar")
        await expect_error(ws, json.dumps({"type": "offer", "sdp": "v=0\r\n", "voice": "klingon"}), "unknown_voice")


async def test_session_survives_bad_messages_and_keeps_speaking(ws_url):
    client = await AvatarClient.connect(ws_url)
    try:
        await client.wait_for_media()
        for raw, code in [
            ("{nope", "bad_json"),
            (json.dumps({"type": "say"}), "bad_message"),
            (json.dumps({"type": "say", "text": 12}), "bad_message"),
            (json.dumps({"type": "wave"}), "unknown_type"),
            (json.dumps({"type": "offer", "sdp": "v=0"}), "bad_offer"),
            (json.dumps({"type": "set", "avatar": "nobody"}), "unknown_avatar"),
            (json.dumps({"type": "set", "voice": "nobody"}), "unknown_voice"),
            (json.dumps({"type": "say", "text": "a " * 40_000}), "too_large"),
            (json.dumps({"type": "text", "text": "word " * 3000}), None),
            (json.dumps({"type": "text", "text": "word " * 2000}), "too_large"),
        ]:
            await client._ws.send(raw)
            if code:
                with pytest.raises(ServerError) as info:
                    await client.wait_for("nothing", timeout=5)
                assert info.value.code == code
        await client.interrupt()
        await client.wait_for("speech_ended", timeout=5)
        await client.say("Still here.")
        ended = await client.wait_for("speech_ended", timeout=15)
        assert ended["spoken_text"] == "Still here." and not ended["interrupted"]
    finally:
        await client.close()


async def test_set_changes_voice_and_avatar_for_next_utterance(server, ws_url):
    client = await AvatarClient.connect(ws_url)
    try:
        await client.wait_for_media()
        await client.set(voice="espeak:en-us")
        await client.say("Different voice.")
        ended = await client.wait_for("speech_ended", timeout=15)
        assert ended["spoken_text"] == "Different voice."
        assert not [e for e in client.events if e["type"] == "error"]
    finally:
        await client.close()


@pytest.mark.parametrize("server_options", [{"max_sessions": 1}])
async def test_busy_when_full(ws_url):
    first = await AvatarClient.connect(ws_url)
    try:
        async with connect(ws_url) as ws:
            event = await next_event(ws)
            assert event == {"type": "error", "code": "busy", "message": event["message"]}
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 1013
        await first.say("I am still served.")
        assert (await first.wait_for("speech_ended", timeout=15))["interrupted"] is False
    finally:
        await first.close()


@pytest.mark.parametrize("server_options", [{"token": "s3cret"}])
async def test_token_guards_ws_and_metrics(server, ws_url):
    base = f"http://127.0.0.1:{server.port}"
    for bad in (ws_url, ws_url + "?token=wrong"):
        with pytest.raises(InvalidStatus) as info:
            async with connect(bad):
                pass
        assert info.value.response.status_code == 401
    assert (await get(base + "/metrics"))[0] == 401
    assert (await get(base + "/metrics?token=s3cret"))[0] == 200
    status, body = await get(base + "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    client = await AvatarClient.connect(ws_url, token="s3cret")
    await client.close()


async def test_http_routes(server):
    base = f"http://127.0.0.1:{server.port}"
    status, body = await get(base + "/healthz")
    health = json.loads(body)
    assert status == 200
    assert health["status"] == "ok" and health["sessions"] == 0 and health["max_sessions"] == 8
    assert health["tts"] == "piper" and health["face_backend"] == "onnxruntime"
    status, body = await get(base + "/")
    assert status == 200 and b"<html" in body.lower()
    assert (await get(base + "/../../etc/passwd"))[0] == 404
    assert (await get(base + "/no-such-file.js"))[0] == 404
    status, body = await get(base + "/metrics")
    assert status == 200 and b"avatar_sessions_active" in body
