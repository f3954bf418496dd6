"""Broadcasts that publish to SFUs, through the public API (docs/protocol.md, "Broadcasts"): POST /v1/broadcasts
with a `whip` output (the tests' own WHIP endpoint) or a `janus` output (Debian's janus), the broadcast speaks
(`/say`), the endpoint's peer or a Janus viewer receives its video at 25 fps and its voice, the output's state shows
in GET /v1/broadcasts/<id>, /healthz and /metrics, and DELETE tears it down (the WHIP resource deleted, the Janus
feed gone). A broadcast with an RTMP and a WHIP output encodes its video once: the WHIP endpoint gets the H.264 of
the encoder that feeds the RTMP stream."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from harness.janus import JanusServer, JanusViewer, media_address
from harness.measure import SPEECH_RMS
from harness.reception import video_codec
from harness.rtmp import NginxRtmp
from tests.broadcast_support import Api
from tests.publishing_support import (
    QUICK_RETRIES,
    at_25_fps,
    ice_hosts,
    peer_h264_encoders,
    video_over,
)
from tests.whip_endpoint import TOKEN, WhipEndpoint, serving

pytestmark = pytest.mark.slow

ROOM = 4321


@pytest.fixture
def server_options() -> dict:
    return {"tts": "espeak", "broadcast": QUICK_RETRIES}


@pytest.fixture
async def api(server) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(server, http)


@pytest.fixture
async def endpoint() -> AsyncIterator[WhipEndpoint]:
    async with serving() as endpoint:
        yield endpoint


async def visible(api: Api, broadcast: str) -> tuple[dict, dict, str]:
    """(GET /v1/broadcasts/<id>, its entry in /healthz, /metrics)."""
    described = await api.describe(broadcast)
    health = await (await api.http.get(api.base + "/healthz")).json()
    metrics = await (await api.http.get(api.base + "/metrics")).text()
    return described, next(b for b in health["broadcasts"] if b["id"] == broadcast), metrics


def assert_live_everywhere(kind: str, described: dict, health: dict, metrics: str) -> None:
    (status,) = described["outputs"]
    assert status["kind"] == kind and status["state"] == "live" and status["error"] is None, status
    assert status["frames_sent"] > 50 and status["reconnects"] == 0, status
    assert health["outputs"] == [{**status, "frames_sent": health["outputs"][0]["frames_sent"]}], health
    assert f'avatar_broadcast_outputs{{kind="{kind}",state="live"}} 1.0' in metrics
    assert f'avatar_broadcast_output_frames_sent_total{{broadcast="{described["id"]}",kind="{kind}",output="0"}}' in metrics


def heard_speech(audio: list[tuple[float, float]], after: float) -> bool:
    return any(level > SPEECH_RMS for arrival, level in audio if arrival >= after)


async def test_a_whip_broadcast(api, server, endpoint):
    broadcast = await api.create([{"whip": endpoint.url("/whip/show"), "bearer": TOKEN}])
    await api.wait_for_state(broadcast, "live")
    publication = endpoint.publications["1"]
    said = asyncio.get_running_loop().time()
    await api.say(broadcast)
    video = await video_over(publication.video, 3.0)
    await api.wait_until_speech_ended(broadcast)
    described, health, metrics = await visible(api, broadcast)
    await api.delete(broadcast)

    assert at_25_fps(video), video
    assert heard_speech(publication.audio, said), max(level for _, level in publication.audio)
    assert_live_everywhere("whip", described, health, metrics)
    assert described["outputs"][0]["url"] == f"http://127.0.0.1:{endpoint.port}/…"  # the path may hold a key
    assert TOKEN not in json.dumps(described) + json.dumps(health) + metrics
    assert [(m, p) for m, p, *_ in endpoint.requests] == [("POST", "/whip/show"), ("DELETE", "/resource/1")]
    assert endpoint.deleted == ["1"] and not server.services.sessions


async def test_rtmp_and_whip_share_one_encoder(api, endpoint):
    with NginxRtmp() as rtmp:
        broadcast = await api.create([{"rtmp": rtmp.url("show")}, {"whip": endpoint.url("/whip/show"),
                                                                  "bearer": TOKEN}])
        await api.wait_for_state(broadcast, "live", output=0)
        await api.wait_for_state(broadcast, "live", output=1)
        video = await video_over(endpoint.publications["1"].video, 3.0)
        outputs = (await api.describe(broadcast))["outputs"]
        await api.delete(broadcast)
    assert at_25_fps(video), video
    assert all(o["state"] == "live" and o["frames_sent"] > 50 for o in outputs), outputs
    assert video_codec(endpoint.publications["1"].pc) == "video/H264" and peer_h264_encoders() == 0


MEDIA_IP = media_address()
needs_janus = pytest.mark.skipif(
    MEDIA_IP is None, reason="Janus gathers no loopback candidates, and this machine has no other address")


@needs_janus
@pytest.mark.parametrize("server_options", [{"tts": "espeak", "broadcast": QUICK_RETRIES, "ice_hosts": (MEDIA_IP,)}])
@pytest.mark.parametrize("videocodec", ["vp8", "h264,vp8"])
async def test_a_janus_broadcast(api, server, videocodec):
    """A room of VP8 gets VP8 encoded for Janus; a room that prefers H.264 gets the broadcast encoder's own."""
    with JanusServer([ROOM], MEDIA_IP, videocodec=videocodec) as janus, ice_hosts(MEDIA_IP):
        broadcast = await api.create([{"janus": janus.url, "room": ROOM, "display": "presenter"}])
        await api.wait_for_state(broadcast, "live")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            viewer = await JanusViewer.join(http, janus.url, ROOM)
            try:
                said = asyncio.get_running_loop().time()
                await api.say(broadcast)
                video = await video_over(viewer.video, 3.0)
                await api.wait_until_speech_ended(broadcast)
            finally:
                await viewer.close()
            encoded_here = peer_h264_encoders()
            described, health, metrics = await visible(api, broadcast)
            feeds = await janus.publishers(http, ROOM)
            await api.delete(broadcast)
            feeds_after = await janus.publishers(http, ROOM)

    assert at_25_fps(video), video
    assert heard_speech(viewer.audio, said), max(level for _, level in viewer.audio)
    assert_live_everywhere("janus", described, health, metrics)
    assert described["outputs"][0]["url"] == janus.url
    assert [feed["display"] for feed in feeds] == ["presenter"] and feeds_after == []  # detached on DELETE
    assert video_codec(viewer.pc) == f"video/{videocodec.split(',')[0].upper()}" and encoded_here == 0
    assert not server.services.sessions
