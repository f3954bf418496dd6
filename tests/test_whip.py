"""Conformance of the WHIP output (RFC 9725) against a WHIP endpoint of the test's own: an aiohttp app answering
each offer with an aiortc peer. The offer is POSTed as application/sdp with the bearer token, the relative
`Location` names the resource that is DELETEd on close, a 307 is followed to another server with the same body and
token, a bad token fails the output with the endpoint's reason, an unreachable endpoint or a 503 is retried, a
connection the endpoint ends is made again, and closing leaves nothing running. An endpoint that takes H.264 gets
the broadcast encoder's own packets (nothing encoded again), one that takes VP8 only gets VP8."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aioice import stun

from harness.reception import video_codec
from harness.server_process import free_port
from server.pipeline.errors import ProtocolError
from server.services import Services
from server.transports.encoder import BroadcastEncoder
from tests.publishing_support import (
    CONFIG,
    SETTINGS,
    assert_nothing_left,
    at_25_fps,
    ice_hosts,
    live_pipeline,
    peer_h264_encoders,
    requested,
    running,
    started,
    video_over,
    wait_for_state,
)
from tests.whip_endpoint import TOKEN, WhipEndpoint, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def services() -> Services:
    return Services(CONFIG)


@pytest.fixture
async def endpoint() -> AsyncIterator[WhipEndpoint]:
    async with serving() as endpoint:
        yield endpoint


def whip(url: str, bearer: str | None = TOKEN, **fields) -> dict:
    """A WHIP output's spec in a broadcast request."""
    return {"whip": url, **({"bearer": bearer} if bearer else {}), **fields}


async def test_publishes_with_the_token_and_deletes_its_resource(services, endpoint):
    before = running()
    async with live_pipeline(services) as pipeline:
        async with started(whip(endpoint.url("/whip/show")), pipeline) as output:
            status = await wait_for_state(output, "live")
            assert status.url == f"http://127.0.0.1:{endpoint.port}/…"  # the path may hold a stream key
            publication = endpoint.publications["1"]
            video = await video_over(publication.video, 3.0)
            status = output.status()
        assert endpoint.deleted == ["1"]
    method, path, headers, body = endpoint.posts[0]
    assert path == "/whip/show" and headers["Content-Type"] == "application/sdp"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert body.startswith(b"v=0") and b"a=candidate:" in body and b"a=sendonly" in body  # non-trickle, publish only
    assert body.count(b"m=audio") == 1 and body.count(b"m=video") == 1 and b"a=group:BUNDLE 0 1" in body
    assert [(m, p) for m, p, *_ in endpoint.requests] == [("POST", "/whip/show"), ("DELETE", "/resource/1")]
    assert endpoint.requests[1][2]["Authorization"] == f"Bearer {TOKEN}"
    assert at_25_fps(video) and len(publication.audio) > 100, (video, len(publication.audio))
    assert status.state == "live" and status.frames_sent >= video.frames > 60 and status.reconnects == 0
    assert video_codec(publication.pc) == "video/H264" and not peer_h264_encoders()  # the broadcast's own H.264
    await assert_nothing_left(before)


async def test_picture_loss_asks_the_broadcast_encoder_for_a_keyframe(services, endpoint, monkeypatch):
    requests = []
    ask = BroadcastEncoder.request_keyframe
    monkeypatch.setattr(BroadcastEncoder, "request_keyframe", lambda self: (requests.append(1), ask(self)))
    async with live_pipeline(services) as pipeline, started(whip(endpoint.url("/whip/show")), pipeline) as output:
        await wait_for_state(output, "live")
        publication = endpoint.publications["1"]
        await video_over(publication.video, 0.2)
        asked_before = len(requests)
        receiver = next(t.receiver for t in publication.pc.getTransceivers() if t.kind == "video")
        (source,) = receiver.getSynchronizationSources()
        await receiver._send_rtcp_pli(source.source)  # what a decoder that lost pictures (or an SFU) sends
        async with asyncio.timeout(5):
            while len(requests) == asked_before:
                await asyncio.sleep(0.02)


async def test_an_endpoint_without_h264_gets_vp8(services, endpoint):
    endpoint.video_codecs = ("video/VP8",)
    async with live_pipeline(services) as pipeline, started(whip(endpoint.url("/whip/show")), pipeline) as output:
        await wait_for_state(output, "live")
        publication = endpoint.publications["1"]
        video = await video_over(publication.video, 3.0)
    assert video_codec(publication.pc) == "video/VP8" and at_25_fps(video), (video_codec(publication.pc), video)


async def test_a_307_is_followed_with_the_token(services, endpoint):
    with ice_hosts("127.0.0.1"):
        elsewhere = await WhipEndpoint().start()
    try:
        endpoint.redirect_to = elsewhere.url("/whip/show")
        async with live_pipeline(services) as pipeline:
            async with started(whip(endpoint.url("/moved/show")), pipeline) as output:
                await wait_for_state(output, "live")
            assert elsewhere.deleted == ["1"]  # the Location of the server that answered
        offer = endpoint.posts[0][3]
        assert [(m, p) for m, p, *_ in elsewhere.requests] == [("POST", "/whip/show"), ("DELETE", "/resource/1")]
        assert elsewhere.posts[0][3] == offer and elsewhere.posts[0][2]["Authorization"] == f"Bearer {TOKEN}"
    finally:
        await elsewhere.close()


async def test_a_bad_token_fails_with_the_endpoint_reason(services, endpoint):
    async with live_pipeline(services) as pipeline:
        async with started(whip(endpoint.url("/whip/show"), bearer="wrong"), pipeline) as output:
            status = await wait_for_state(output, "failed")
            await asyncio.sleep(3 * SETTINGS.retry_max_s)
            assert output.status().state == "failed"
    assert "401" in status.error and "invalid token" in status.error, status
    assert len(endpoint.posts) == 1 and not endpoint.publications  # never retried


async def test_an_unknown_stream_fails_with_the_endpoint_reason(services, endpoint):
    endpoint.refuse_next = [(404, {})]
    async with live_pipeline(services) as pipeline:
        async with started(whip(endpoint.url("/whip/show")), pipeline) as output:
            status = await wait_for_state(output, "failed")
    assert "404" in status.error and "not now" in status.error, status
    assert len(endpoint.posts) == 1


async def test_an_unreachable_endpoint_is_retried_until_it_answers(services):
    port = free_port()
    with ice_hosts("127.0.0.1"):
        async with live_pipeline(services) as pipeline:
            async with started(whip(f"http://127.0.0.1:{port}/whip/show"), pipeline) as output:
                status = await wait_for_state(output, "retrying")
                assert "connect" in status.error.lower(), status
                endpoint = await WhipEndpoint(port).start()
                try:
                    status = await wait_for_state(output, "live")
                finally:
                    await output.close()
                    await endpoint.close()
    assert status.reconnects >= 1 and status.error is None


async def test_an_unavailable_endpoint_is_retried_after_its_retry_after(services, endpoint):
    endpoint.refuse_next = [(503, {"Retry-After": "1"}), (503, {})]
    async with live_pipeline(services) as pipeline:
        async with started(whip(endpoint.url("/whip/show")), pipeline) as output:
            status = await wait_for_state(output, "retrying")
            assert "503" in status.error, status
            status = await wait_for_state(output, "live")
    assert status.reconnects == 2 and len(endpoint.posts) == 3


async def test_a_connection_the_endpoint_ends_is_made_again(services, endpoint):
    async with live_pipeline(services) as pipeline:
        async with started(whip(endpoint.url("/whip/show")), pipeline) as output:
            await wait_for_state(output, "live")
            await endpoint.publications["1"].close()  # the media server drops the publication
            await wait_for_state(output, "retrying")
            status = await wait_for_state(output, "live")
            assert "2" in endpoint.publications and status.reconnects == 1
            video = await video_over(endpoint.publications["2"].video, 2.0)
    assert at_25_fps(video), video
    assert [(m, p) for m, p, *_ in endpoint.requests] == [
        ("POST", "/whip/show"), ("DELETE", "/resource/1"), ("POST", "/whip/show"), ("DELETE", "/resource/2"),
    ]


class StunServer(asyncio.DatagramProtocol):
    """A STUN server on a loopback port that answers every Binding request with a mapped address of its choosing,
    as a server behind a NAT would see it."""

    MAPPED = ("203.0.113.7", 40000)  # TEST-NET-3: an address this machine does not have

    def __init__(self) -> None:
        self.requests = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = stun.parse_message(data)
        if request.message_method != stun.Method.BINDING or request.message_class != stun.Class.REQUEST:
            return
        self.requests += 1
        answer = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, request.transaction_id)
        answer.attributes["XOR-MAPPED-ADDRESS"] = self.MAPPED
        answer.add_fingerprint()
        assert self.transport is not None
        self.transport.sendto(bytes(answer), addr)


async def test_the_output_ice_servers_are_used(services, endpoint):
    loop = asyncio.get_running_loop()
    transport, stun_server = await loop.create_datagram_endpoint(StunServer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        spec = whip(endpoint.url("/whip/show"), iceServers=[{"urls": f"stun:127.0.0.1:{port}"}])
        async with live_pipeline(services) as pipeline, started(spec, pipeline) as output:
            await wait_for_state(output, "live")
    finally:
        transport.close()
    offer = endpoint.posts[0][3].decode()
    assert stun_server.requests >= 1
    assert f"{StunServer.MAPPED[0]} {StunServer.MAPPED[1]} typ srflx" in offer, offer  # gathered before the POST


@pytest.mark.parametrize(
    "spec, complaint",
    [
        ({"whip": "rtmp://host/app/key"}, "http://"),
        ({"whip": "https://"}, "host"),
        ({"whip": "https://host:99999/whip"}, "not a URL"),
        ({"whip": ["https://host/whip"]}, "'whip'"),
        ({"whip": "https://host/whip", "bearer": 42}, "'bearer'"),
        ({"whip": "https://host/whip", "bearer": "two words"}, "'bearer'"),
        ({"whip": "https://host/whip", "bearer": "line\r\nX-Injected: 1"}, "'bearer'"),
        ({"whip": "https://host/whip", "token": "t"}, "'token'"),
        ({"whip": "https://host/whip", "iceServers": "stun:x"}, "'iceServers'"),
        ({"whip": "https://host/whip", "iceServers": [{"urls": "stuns:x"}]}, "stuns:x"),
    ],
)
def test_malformed_whip_outputs_are_refused(spec, complaint):
    with pytest.raises(ProtocolError) as refused:
        requested(spec)
    assert refused.value.code == "bad_output" and complaint in refused.value.message, refused.value.message
