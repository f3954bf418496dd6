"""NAT traversal for real, against Debian's coturn on loopback: a session whose two ends may only use relayed
candidates connects through the TURN server and gets 25 fps and audio, with static and with time-limited (TURN
REST) credentials; wrong credentials give a clear error at the client and in the server's log, not a hang."""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Iterator

import aiohttp
import pytest
from aiortc import RTCIceServer
from playwright.async_api import async_playwright

from client import AvatarClient, IceConfig, IceError, ServerError
from harness.browser import live_page
from harness.measure import video_stats
from server.app import AvatarServer
from tests.browser_support import (
    launch_chromium,
    painted_fps,
    running_server,
    wait_for_state,
)
from tests.conftest import make_config
from tests.turn_server import PASSWORD, SECRET, USER, TurnServer, turn_server

SPEECH_RMS = 300.0
SENTENCE = "Hello from behind a very strict firewall, where only the relay can carry my voice and my face to you."


@pytest.fixture(params=["static", "rest"])
def turn(request, tmp_path) -> Iterator[TurnServer]:
    with turn_server(tmp_path / "turn", request.param) as server:
        yield server


def relay_settings(turn: TurnServer, credentials: str, password: str = PASSWORD) -> dict:
    auth = {"turn_secret": SECRET} if credentials == "rest" else {"turn_user": USER, "turn_password": password}
    return {"ice_servers": ("stun:127.0.0.1:%d" % turn.port, turn.url), "ice_transport_policy": "relay", **auth}


async def started(**options) -> AvatarServer:
    server = AvatarServer(make_config(tts="espeak", tts_engines=("espeak",), face_driver="phonemes", **options))
    await server.start()
    return server


def candidate_types(sdp: str) -> set[str]:
    return {line.split(" typ ")[1].split()[0] for line in sdp.splitlines() if line.startswith("a=candidate:")}


async def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.json()


async def test_relay_only_session_connects_through_turn_at_25_fps_with_audio(turn, request):
    credentials = request.node.callspec.params["turn"]
    server = await started(ice=relay_settings(turn, credentials))
    client = None
    try:
        client = await AvatarClient.connect(f"ws://127.0.0.1:{server.port}/ws")
        answer = next(e for e in client.events if e["type"] == "answer")
        assert candidate_types(client._pc.localDescription.sdp) == {"relay"}  # the client's offer
        assert candidate_types(answer["sdp"]) == {"relay"}  # the server's answer: no path but the relay
        await client.wait_for_media(timeout=20)
        began = time.monotonic()
        await client.say(SENTENCE)
        ended = await client.wait_for("speech_ended", timeout=30)
        window = video_stats(client.video_times, began, time.monotonic())
    finally:
        if client is not None:
            await client.close()
        await server.stop()
    assert ended["spoken_text"] == SENTENCE
    assert window.fps >= 23.0 and window.missing <= 0.03 * window.frames, window
    assert sum(frame_rms(a.pcm) > SPEECH_RMS for a in client.audio) > 100, "seconds of speech came through the relay"
    # the server's start-up check, the server's peer and the client's peer (one allocation per transport)
    assert turn.log_text().count("ALLOCATE processed, success") >= 3


def frame_rms(pcm) -> float:
    return float((pcm.astype("float64") ** 2).mean() ** 0.5)


async def test_ice_servers_route_gives_what_the_server_uses(turn, request):
    credentials = request.node.callspec.params["turn"]
    server = await started(token="s3cret", ice=relay_settings(turn, credentials))
    base = f"http://127.0.0.1:{server.port}/v1/ice-servers"
    try:
        assert (await get_json(base))[0] == 401
        status, refused = await get_json(base, {"Authorization": "Bearer wrong"})
        assert status == 401 and refused["error"]["code"] == "unauthorized"
        status, body = await get_json(base + "?token=s3cret")
        assert status == 200 and (await get_json(base, {"Authorization": "Bearer s3cret"}))[0] == 200
    finally:
        await server.stop()
    stun, relay = body["iceServers"]
    assert body["iceTransportPolicy"] == "relay"
    assert stun == {"urls": [f"stun:127.0.0.1:{turn.port}"]} and relay["urls"] == [turn.url]
    if credentials == "static":
        assert (relay["username"], relay["credential"]) == (USER, PASSWORD)
        return
    expiry, _, name = relay["username"].partition(":")
    assert 86400 - 60 < int(expiry) - time.time() <= 86400 and name.startswith("client-")
    digest = hmac.new(SECRET.encode(), relay["username"].encode(), hashlib.sha1).digest()
    assert relay["credential"] == base64.b64encode(digest).decode()


@pytest.mark.parametrize("turn", ["static"], indirect=True)
async def test_wrong_credentials_fail_clearly_at_both_ends(turn, caplog):
    with caplog.at_level(logging.WARNING):
        server = await started(ice=relay_settings(turn, "static", password="wrong"))
    url = f"ws://127.0.0.1:{server.port}/ws"
    right = IceConfig([RTCIceServer(urls=[turn.url], username=USER, credential=PASSWORD)], relay_only=True)
    try:
        assert "refused the credentials (401 Unauthorized)" in caplog.text  # at start, before any session
        began = time.monotonic()
        with pytest.raises(IceError) as at_client:  # the client got the server's wrong credentials
            await AvatarClient.connect(url)
        assert "401" in str(at_client.value) and "credentials" in str(at_client.value)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="server.session"):
            with pytest.raises(ServerError) as refused:  # the client's own are right, the server's are not
                await AvatarClient.connect(url, ice=right)
        assert time.monotonic() - began < 20, "a clear refusal, not a timeout"
    finally:
        await server.stop()
    assert refused.value.code == "ice_failed" and "401" in refused.value.message
    assert "no relayed ICE candidate" in caplog.text and "401 Unauthorized" in caplog.text


def server_args(turn: TurnServer, password: str = PASSWORD) -> list[str]:
    return ["--ice-server", turn.url, "--turn-user", USER, "--turn-password", password,
            "--ice-transport-policy", "relay", "--tts", "espeak", "--face-driver", "phonemes"]


async def selected_pair_types(page) -> list[str]:
    """The local and remote candidate types of the pair the page's peer connection uses (its own stats)."""
    return await page.evaluate(
        """async () => {
            const pc = window.__peerConnections.at(-1);
            const stats = [...(await pc.getStats()).values()];
            const pair = stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
            const byId = Object.fromEntries(stats.map((s) => [s.id, s]));
            return pair ? [byId[pair.localCandidateId].candidateType, byId[pair.remoteCandidateId].candidateType] : [];
        }"""
    )


@pytest.mark.browser
@pytest.mark.parametrize("turn", ["static"], indirect=True)
async def test_page_connects_through_turn_with_relay_only(turn):
    with running_server(*server_args(turn)) as url:
        async with live_page(url) as page:
            fps = await painted_fps(page, seconds=3)
            types = await selected_pair_types(page)
    assert types == ["relay", "relay"], types
    assert 20 <= fps <= 30, fps


@pytest.mark.browser
@pytest.mark.parametrize("turn", ["static"], indirect=True)
async def test_page_says_why_when_turn_refuses_its_credentials(turn):
    with running_server(*server_args(turn, password="wrong")) as url:
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            try:
                page = await browser.new_page()
                await page.goto(url)
                await wait_for_state(page, "disconnected", timeout_ms=20_000)
                errors = await page.locator("#errors .error").all_inner_texts()
            finally:
                await browser.close()
    assert any("No relayed ICE candidate" in e and "401" in e for e in errors), errors
