"""Limits that hold under abuse, each against a running server: new connections per address (a rate with a burst),
sessions open per address, the websocket heartbeat, the SDP's size and the ICE candidates of a session, and
request bodies of the HTTP API. Behind a trusted proxy the address is the one it forwards."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from client import AvatarClient, ServerError
from server.api.v1 import body_limit, middleware, read_json
from server.metrics import Metrics

BUSY_CLOSE_CODE = 1013


async def next_event(ws, timeout: float = 10.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def knock(ws_url: str, headers: dict[str, str] | None = None) -> int:
    """Open a websocket and close it again: 101, or the HTTP status that refused it."""
    try:
        async with connect(ws_url, additional_headers=headers):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.parametrize("server_options", [{"security": {"connect_burst": 3, "connect_rate_per_min": 6.0}}])
async def test_connections_per_address_are_rate_limited(ws_url):
    assert [await knock(ws_url) for _ in range(3)] == [101, 101, 101]
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url):
            pass
    assert refused.value.response.status_code == 429
    assert 1 <= int(refused.value.response.headers["Retry-After"]) <= 10  # one connection every 10 s at 6 a minute
    assert b"too many connections" in refused.value.response.body


@pytest.mark.parametrize("server_options", [{"security": {
    "connect_burst": 2, "connect_rate_per_min": 1.0, "trusted_proxies": ("127.0.0.1",)}}])
async def test_behind_a_trusted_proxy_the_forwarded_address_counts(ws_url):
    alice, bob = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    assert [await knock(ws_url, alice) for _ in range(3)] == [101, 101, 429]
    assert [await knock(ws_url, bob) for _ in range(2)] == [101, 101]  # another client behind the same proxy
    # what the client wrote left of the proxy's entry is not believed: still bob's address
    assert await knock(ws_url, {"X-Forwarded-For": "10.9.9.9, 203.0.113.9"}) == 429


@pytest.mark.parametrize("server_options", [{"security": {"connect_burst": 2, "connect_rate_per_min": 1.0}}])
async def test_an_untrusted_peer_cannot_pick_its_address(ws_url):
    statuses = [await knock(ws_url, {"X-Forwarded-For": f"203.0.113.{i}"}) for i in range(3)]
    assert statuses == [101, 101, 429]


@pytest.mark.parametrize("server_options", [{"security": {"max_sessions_per_ip": 2}}])
async def test_sessions_per_address_are_capped(server, ws_url):
    async with connect(ws_url) as first, connect(ws_url) as second:
        async with connect(ws_url) as third:
            event = await next_event(third)
            assert event["type"] == "error" and event["code"] == "busy" and "this address" in event["message"]
            await asyncio.wait_for(third.wait_closed(), 5)
            assert third.close_code == BUSY_CLOSE_CODE
        for ws in (first, second):  # the sessions already open are served
            await ws.send(json.dumps({"type": "flush"}))
            assert (await next_event(ws))["code"] == "no_session"
    async with asyncio.timeout(5):
        while server.services.sessions:
            await asyncio.sleep(0.05)
    async with connect(ws_url) as again:
        await again.send(json.dumps({"type": "flush"}))
        assert (await next_event(again))["code"] == "no_session"


@pytest.mark.parametrize("server_options", [{"limits": {"ws_heartbeat_s": 0.5}}])
async def test_a_client_that_never_answers_pings_is_dropped(server, ws_url):
    async with aiohttp.ClientSession() as http:
        silent = await http.ws_connect(ws_url, autoping=False)
        async with connect(ws_url) as answering:  # websockets answers pings by itself
            async with asyncio.timeout(5):
                while not silent.closed:
                    await silent.receive()  # pings arrive and are never answered
            await answering.send(json.dumps({"type": "flush"}))
            assert (await next_event(answering))["code"] == "no_session"
        await silent.close()


def offer_with_candidates(count: int) -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0"]
    lines += [f"a=candidate:{i} 1 udp 2130706431 192.0.2.{i % 250 + 1} {10000 + i} typ host" for i in range(count)]
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize("server_options", [{"security": {"max_sdp_bytes": 4096, "max_ice_candidates": 8}}])
async def test_offers_are_bounded_in_size_and_candidates(ws_url):
    async with connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 1000}))
        event = await next_event(ws)
        assert event["code"] == "too_large" and "4096 bytes" in event["message"]
        await ws.send(json.dumps({"type": "offer", "sdp": offer_with_candidates(9)}))
        event = await next_event(ws)
        assert event["code"] == "too_large" and "ICE candidates" in event["message"]
        await ws.send(json.dumps({"type": "offer", "sdp": offer_with_candidates(8)}))
        assert (await next_event(ws))["code"] == "bad_offer"  # within the bounds, refused for what it is


@pytest.mark.parametrize("server_options", [{"security": {"max_ice_candidates": 3}}])
async def test_trickled_candidates_are_bounded(ws_url):
    client = await AvatarClient.connect(ws_url)
    try:
        await client.wait_for_media()
        in_offer = client._pc.localDescription.sdp.count("a=candidate:")
        for port in range(3 - in_offer):
            await client.send({"type": "ice", "candidate": {
                "candidate": f"candidate:9 1 udp 2130706431 127.0.0.1 {20000 + port} typ host", "sdpMid": "0",
                "sdpMLineIndex": 0}})
        await client.send({"type": "ice", "candidate": {
            "candidate": "candidate:9 1 udp 2130706431 127.0.0.1 29999 typ host", "sdpMid": "0", "sdpMLineIndex": 0}})
        with pytest.raises(ServerError) as refused:
            await client.wait_for("never-sent", timeout=10)
        assert refused.value.code == "too_large"
        await client.say("Still here.")
        assert (await client.wait_for("speech_ended", timeout=30))["spoken_text"] == "Still here."
    finally:
        await client.close()


async def test_http_api_bodies_are_bounded(server):
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/v1/ice-servers", data=b"x" * (65 * 1024)) as response:
            assert response.status == 413
            assert (await response.json())["error"]["code"] == "too_large"


@pytest.fixture
async def api_app():
    """A /v1 app of two routes that read JSON bodies: the default limit, and one that takes uploads."""

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await read_json(request))

    @body_limit(1024 * 1024)
    async def upload(request: web.Request) -> web.Response:
        return web.json_response({"bytes": len(json.dumps(await read_json(request)))})

    app = web.Application(client_max_size=1024, middlewares=[middleware(None, Metrics())])
    app.add_routes([web.post("/v1/echo", echo), web.post("/v1/upload", upload)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def chunked(data: bytes):
    for i in range(0, len(data), 512):
        yield data[i : i + 512]


async def test_bodies_are_refused_past_their_route_limit_however_they_are_sent(api_app):
    big = json.dumps({"text": "x" * 5000}).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api_app}/v1/echo", data=b'{"ok": 1}') as response:
            assert response.status == 200 and await response.json() == {"ok": 1}
        async with http.post(f"{api_app}/v1/echo", data=big) as response:  # declared too large: not read
            assert response.status == 413 and (await response.json())["error"]["code"] == "too_large"
        async with http.post(f"{api_app}/v1/echo", data=chunked(big)) as response:  # no length: cut off reading
            assert response.status == 413 and (await response.json())["error"]["code"] == "too_large"
        async with http.post(f"{api_app}/v1/echo", data=b"{nope") as response:
            assert response.status == 400 and (await response.json())["error"]["code"] == "bad_json"
        async with http.post(f"{api_app}/v1/upload", data=chunked(big)) as response:
            assert response.status == 200 and (await response.json())["bytes"] == len(big)
        async with http.get(f"{api_app}/v1/nothing-here") as response:
            assert response.status == 404 and (await response.json())["error"]["code"] == "not_found"
        async with http.get(f"{api_app}/v1/echo") as response:
            body = await response.json()
            assert response.status == 405 and body["error"]["code"] == "not_found"
            assert "POST" in body["error"]["message"]
