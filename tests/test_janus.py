"""The Janus VideoRoom output against Debian's janus, started here with its own configuration (VideoRoom plugin,
HTTP transport on a loopback port, nothing else): the avatar publishes, several aiortc viewers subscribe through
Janus's HTTP API and receive its audio and video at 25 fps, a restart of Janus is survived, refusals fail the
output with Janus's reason, and closing leaves nothing behind, on this server or in the room."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import async_playwright

from harness.janus import VIDEOROOM, JanusServer, JanusViewer, media_address, publishers
from harness.measure import SPEECH_RMS
from harness.server_process import free_port
from harness.whip_server import JanusWhipServer
from server.pipeline.errors import ProtocolError
from server.services import Services
from server.transports.webrtc.janus_api import JanusSession
from tests.browser_support import (
    SPEECH_LEVEL,
    launch_chromium,
    page_now_ms,
    painted_fps,
    start_audio_probe,
    wait_for_level,
)
from tests.browser_support import (
    wait_for_state as wait_for_page,
)
from tests.publishing_support import (
    CONFIG,
    FPS_RANGE,
    LOG,
    SETTINGS,
    SPEECH,
    assert_nothing_left,
    at_25_fps,
    ice_hosts,
    live_pipeline,
    requested,
    running,
    started,
    video_over,
    wait_for_state,
)

pytestmark = pytest.mark.slow

ROOM = 1234
VIEWERS = 3
VIEWER_PAGE = Path(__file__).with_name("janus_viewer.html")
KEEPALIVE_S = 15.0
MEDIA_IP = media_address()
if MEDIA_IP is None:
    pytest.skip("Janus gathers no loopback candidates, and this machine has no other address", allow_module_level=True)


@pytest.fixture(scope="module")
def services() -> Services:
    return Services(CONFIG)


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusServer]:
    with JanusServer([ROOM], MEDIA_IP) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The viewers' HTTP client, without keep-alive connections (they would count as sockets left open)."""
    with ice_hosts(MEDIA_IP):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            yield session


def janus_output(url: str, room: int = ROOM, **fields) -> dict:
    """A Janus output's spec in a broadcast request."""
    return {"janus": url, "room": room, **fields}


async def test_viewers_receive_the_avatar_through_janus(services, janus, http):
    before = running()
    async with live_pipeline(services) as pipeline, started(janus_output(janus.url), pipeline) as output:
        await wait_for_state(output, "live")
        assert [p["display"] for p in await janus.publishers(http, ROOM)] == ["avatar test"]
        viewers = [await JanusViewer.join(http, janus.url, ROOM) for _ in range(VIEWERS)]
        try:
            async with asyncio.timeout(15):
                while not all(v.video and v.audio for v in viewers):
                    await asyncio.sleep(0.1)
            pipeline.text(SPEECH, flush=True)
            stats = await asyncio.gather(*(video_over(v.video, 5.0) for v in viewers))
        finally:
            await asyncio.gather(*(v.close() for v in viewers))
        status = output.status()
    for viewer, video in zip(viewers, stats):
        assert at_25_fps(video), video
        assert max(level for _, level in viewer.audio) > SPEECH_RMS  # the speech came through, not just silence
    assert status.state == "live" and status.frames_sent > 5 * 25 and status.reconnects == 0
    assert status.url == janus.url and status.error is None
    assert await janus.publishers(http, ROOM) == []  # detached: the feed left the room
    await assert_nothing_left(before)


@pytest.mark.browser
async def test_chromium_watches_the_avatar_through_janus(services, janus, http):
    """A real viewer: Chromium subscribes through Janus's HTTP API from a page of its own, and shows the avatar's
    frames at 25 fps and plays its voice."""
    async def viewer_page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(VIEWER_PAGE)

    app = web.Application()
    app.router.add_get("/", viewer_page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", free_port())
    await site.start()
    try:
        async with live_pipeline(services) as pipeline, started(janus_output(janus.url), pipeline) as output:
            await wait_for_state(output, "live")
            async with async_playwright() as playwright:
                browser = await launch_chromium(playwright)
                try:
                    page = await browser.new_page()
                    await page.goto(f"http://127.0.0.1:{site._port}/?janus={janus.url}&room={ROOM}")
                    await wait_for_page(page, "live")
                    decoded = await decoded_fps(page, 3.0)
                    painted = await painted_fps(page, 3.0)
                    await start_audio_probe(page)
                    since = await page_now_ms(page)
                    pipeline.text(SPEECH, flush=True)
                    heard_at = await wait_for_level(page, SPEECH_LEVEL, since, timeout_ms=15_000)
                finally:
                    await browser.close()
    finally:
        await runner.cleanup()
    assert FPS_RANGE[0] <= decoded <= FPS_RANGE[1], decoded
    assert painted > 15, painted  # shown, not only received: software compositing on a loaded box runs slower
    assert heard_at > since


async def decoded_fps(page, seconds: float) -> float:
    """Video frames the page's peer connection decoded per second (its inbound-rtp statistics)."""
    return await page.evaluate(
        """async (ms) => {
            const decoded = async () => {
                let frames = 0;
                (await window.viewer.pc.getStats()).forEach((report) => {
                    if (report.type === "inbound-rtp" && report.kind === "video") frames = report.framesDecoded;
                });
                return frames;
            };
            const before = await decoded();
            await new Promise((resolve) => setTimeout(resolve, ms));
            return (await decoded() - before) / (ms / 1000);
        }""",
        seconds * 1000,
    )


async def test_a_restart_of_janus_is_survived(services, janus, http):
    async with live_pipeline(services) as pipeline, started(janus_output(janus.url), pipeline) as output:
        await wait_for_state(output, "live")
        janus.stop()
        try:
            status = await wait_for_state(output, "retrying", timeout=10)
        finally:
            janus.start()
        assert "long poll" in status.error or "session" in status.error, status
        status = await wait_for_state(output, "live", timeout=30)
        assert status.reconnects >= 1
        viewer = await JanusViewer.join(http, janus.url, ROOM)
        try:
            video = await video_over(viewer.video, 3.0)
        finally:
            await viewer.close()
    assert at_25_fps(video), video


async def test_a_publisher_kicked_out_of_the_room_comes_back(services, janus, http):
    async with live_pipeline(services) as pipeline, started(janus_output(janus.url), pipeline) as output:
        await wait_for_state(output, "live")
        moderator = JanusSession(http, janus.url, request_timeout_s=5, keepalive_s=KEEPALIVE_S, log=LOG)
        await moderator.create()
        try:
            handle = await moderator.attach(VIDEOROOM)
            (feed,) = await publishers(handle, ROOM)
            await handle.message({"request": "kick", "room": ROOM, "id": feed["id"]})
            status = await wait_for_state(output, "retrying", timeout=10)
            assert "ended the publication" in status.error, status
            status = await wait_for_state(output, "live", timeout=20)
            (back,) = await publishers(handle, ROOM)
        finally:
            await moderator.destroy()
    assert status.reconnects == 1 and back["id"] != feed["id"]


async def test_whip_into_janus_through_its_own_whip_server(services, http):
    """The WHIP output against a WHIP server not of our own: Janus's simple-whip-server, in front of a Janus."""
    with JanusServer([ROOM], MEDIA_IP, websockets=True) as janus, JanusWhipServer(janus) as gateway:
        url = gateway.endpoint("avatar", ROOM, token="gateway-token")
        before = running()
        async with live_pipeline(services) as pipeline:
            async with started({"whip": url, "bearer": "gateway-token"}, pipeline) as output:
                await wait_for_state(output, "live")
                viewer = await JanusViewer.join(http, janus.url, ROOM)
                try:
                    video = await video_over(viewer.video, 3.0)
                finally:
                    await viewer.close()
        await assert_nothing_left(before)
        assert await janus.publishers(http, ROOM) == []  # the DELETE ended the publication
        async with live_pipeline(services) as pipeline:
            async with started({"whip": url, "bearer": "wrong"}, pipeline) as output:
                refused = await wait_for_state(output, "failed")
    assert at_25_fps(video), video
    assert "403" in refused.error and "Unauthorized" in refused.error, refused


async def test_an_unknown_room_fails_with_janus_reason(services, janus):
    async with live_pipeline(services) as pipeline, started(janus_output(janus.url, room=999), pipeline) as output:
        status = await wait_for_state(output, "failed")
        await asyncio.sleep(3 * SETTINGS.retry_max_s)
        assert output.status().reconnects == 0  # failed for good: no retries
    assert "426" in status.error and "room" in status.error.lower(), status


async def test_a_wrong_api_secret_or_pin_fails_with_janus_reason(services):
    with JanusServer([ROOM], MEDIA_IP, apisecret="right-secret", pin="2468") as guarded:
        async with live_pipeline(services) as pipeline:
            async with started(janus_output(guarded.url, apisecret="wrong", pin="2468"), pipeline) as output:
                wrong_secret = await wait_for_state(output, "failed")
            async with started(janus_output(guarded.url, apisecret="right-secret", pin="1357"), pipeline) as output:
                wrong_pin = await wait_for_state(output, "failed")
    assert "403" in wrong_secret.error, wrong_secret
    assert "433" in wrong_pin.error, wrong_pin


async def test_the_right_api_secret_and_pin_publish_into_a_guarded_room(services):
    # The publisher offers Janus's media address: a server built by an earlier test of this process may have left
    # aioice offering loopback only, where this Janus gathers no candidates.
    with JanusServer([ROOM], MEDIA_IP, apisecret="right-secret", pin="2468") as guarded, ice_hosts(MEDIA_IP):
        async with live_pipeline(services) as pipeline:
            async with started(janus_output(guarded.url, apisecret="right-secret", pin="2468"), pipeline) as output:
                await wait_for_state(output, "live")


async def test_an_unreachable_janus_is_retried(services):
    url = f"http://127.0.0.1:{free_port()}/janus"
    async with live_pipeline(services) as pipeline, started(janus_output(url), pipeline) as output:
        status = await wait_for_state(output, "retrying")
        async with asyncio.timeout(10):
            while output.status().reconnects < 2:
                await asyncio.sleep(0.05)
    assert "connect" in status.error.lower(), status


@pytest.mark.parametrize(
    "spec, complaint",
    [
        ({"janus": "http://127.0.0.1:8088/janus"}, "'room'"),
        ({"janus": "http://127.0.0.1:8088/janus", "room": 0}, "'room'"),
        ({"janus": "http://127.0.0.1:8088/janus", "room": True}, "'room'"),
        ({"janus": "http://127.0.0.1:8088/janus", "room": [1]}, "'room'"),
        ({"janus": "ws://127.0.0.1:8188/", "room": 1}, "http://"),
        ({"janus": "http:///janus", "room": 1}, "host"),
        ({"janus": 8088, "room": 1}, "'janus'"),
        ({"janus": "http://127.0.0.1:8088/janus", "room": 1, "pin": 1234}, "'pin'"),
        ({"janus": "http://127.0.0.1:8088/janus", "room": 1, "secret": "x"}, "'secret'"),
        ({"janus": "http://127.0.0.1:8088/janus", "room": 1, "iceServers": [{"urls": "turn:t"}]}, "TURN"),
    ],
)
def test_malformed_janus_outputs_are_refused(spec, complaint):
    with pytest.raises(ProtocolError) as refused:
        requested(spec)
    assert refused.value.code == "bad_output" and complaint in refused.value.message, refused.value.message
