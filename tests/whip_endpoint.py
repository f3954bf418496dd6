"""A WHIP endpoint of the tests' own (RFC 9725's server side, on aiohttp and aiortc), for the conformance tests of
the WHIP output and the broadcasts that publish through it."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

from aiohttp import web
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from harness.reception import Reception
from harness.server_process import free_port
from tests.publishing_support import ice_hosts

TOKEN = "whip-test-token"


class Publication(Reception):
    """What the endpoint received on one resource."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        super().__init__()
        self.pc = pc

    async def close(self) -> None:
        await self.stop()
        await self.pc.close()


class WhipEndpoint:
    """A WHIP endpoint on a loopback port: `POST /whip/<stream>` answers with an aiortc peer (`201`, `Location:
    /resource/<n>`), `DELETE /resource/<n>` ends it; `/moved/<stream>` redirects (307) to `redirect_to`.
    `refuse_next` holds (status, headers) answers to give instead of the next POSTs; `video_codecs`, when set, are
    the only video codecs the endpoint accepts ("video/VP8", ...)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []  # method, path, headers, body
        self.publications: dict[str, Publication] = {}
        self.deleted: list[str] = []
        self.refuse_next: list[tuple[int, dict[str, str]]] = []
        self.redirect_to: str | None = None
        self.video_codecs: tuple[str, ...] | None = None
        self._ids = itertools.count(1)
        app = web.Application()
        app.add_routes([
            web.post("/whip/{stream}", self._publish),
            web.post("/moved/{stream}", self._moved),
            web.delete("/resource/{id}", self._delete),
        ])
        self._runner = web.AppRunner(app, access_log=None)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def posts(self) -> list[tuple[str, str, dict[str, str], bytes]]:
        return [r for r in self.requests if r[0] == "POST"]

    async def start(self) -> WhipEndpoint:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.publications.values()))
        await self._runner.cleanup()

    def _record(self, request: web.Request, body: bytes) -> None:
        self.requests.append((request.method, request.path, dict(request.headers), body))

    async def _publish(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._record(request, body)
        if self.refuse_next:
            status, headers = self.refuse_next.pop(0)
            return web.Response(status=status, headers=headers, text="not now")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"}, text="invalid token")
        if request.content_type != "application/sdp":
            return web.Response(status=415, text="offers are application/sdp")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        publication = Publication(pc)
        pc.on("track", publication.read)
        if self.video_codecs is not None:  # a receiving transceiver with the codecs set before the offer is read
            accepted = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in self.video_codecs]
            pc.addTransceiver("video", direction="recvonly").setCodecPreferences(accepted)
        await pc.setRemoteDescription(RTCSessionDescription(body.decode(), "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        resource = str(next(self._ids))
        self.publications[resource] = publication
        return web.Response(
            status=201,
            headers={"Location": f"/resource/{resource}"},
            content_type="application/sdp",
            text=pc.localDescription.sdp,
        )

    async def _moved(self, request: web.Request) -> web.Response:
        self._record(request, await request.read())
        assert self.redirect_to is not None
        return web.Response(status=307, headers={"Location": self.redirect_to})

    async def _delete(self, request: web.Request) -> web.Response:
        self._record(request, b"")
        resource = request.match_info["id"]
        if resource not in self.publications:
            return web.Response(status=404)
        self.deleted.append(resource)
        await self.publications[resource].close()
        return web.Response(status=200)


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[WhipEndpoint]:
    """An endpoint on a free loopback port, its peers (and every other of this process) offering loopback
    candidates only; closed at the end of the block."""
    with ice_hosts("127.0.0.1"):
        endpoint = await WhipEndpoint().start()
        try:
            yield endpoint
        finally:
            await endpoint.close()
