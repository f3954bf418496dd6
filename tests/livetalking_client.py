"""A client of the LiveTalking-compatible routes, written the way LiveTalking's own web page (web/client.js and
its webrtcapi pages) does it: a peer connection with a receive-only video and audio transceiver, the offer
POSTed as JSON to /offer once ICE gathering is complete, the answer's `sessionid` kept and sent with /human,
/interrupt_talk and /is_speaking, and the session's events read from /sse."""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from client import ReceivedAudio, ReceivedVideo


class LiveTalkingClient:
    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base = base
        self.http = http
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.sessionid: Any = None
        self.audio: list[ReceivedAudio] = []
        self.video: list[ReceivedVideo] = []
        self.events: list[dict[str, Any]] = []  # from /sse, each with "_at" (monotonic arrival)
        self._new_event = asyncio.Condition()
        self._tasks: list[asyncio.Task] = []

    async def start(self, **offer_fields: Any) -> dict[str, Any]:
        """The page's negotiate(): video then audio, both recvonly; the complete offer to /offer."""
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())  # aiortc gathers every candidate here
        offer = self.pc.localDescription
        answer = await self.post("/offer", {"sdp": offer.sdp, "type": offer.type, **offer_fields})
        self.sessionid = answer["sessionid"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        return answer

    async def post(self, route: str, payload: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.base + route, json=payload) as response:
            assert response.status == 200, (route, response.status)
            return await response.json()

    async def wait_for_media(self, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while not (self.audio and self.video):
                await asyncio.sleep(0.05)

    async def listen(self) -> None:
        """Open /sse?sessionid=... and keep its events; returns once the stream is open."""
        opened = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._read_sse(opened)))
        async with asyncio.timeout(10):
            await opened.wait()

    async def wait_for(self, kind: str, timeout: float = 15.0, after: int = 0) -> dict[str, Any]:
        """The first event of `kind` at index `after` or later."""
        async with asyncio.timeout(timeout):
            async with self._new_event:
                while True:
                    for event in self.events[after:]:
                        if event["type"] == kind:
                            return event
                    await self._new_event.wait()

    async def _read_sse(self, opened: asyncio.Event) -> None:
        async with self.http.get(f"{self.base}/sse", params={"sessionid": str(self.sessionid)}) as response:
            assert response.status == 200 and response.content_type == "text/event-stream"
            opened.set()
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[len("data: ") :])
                event["_at"] = time.monotonic()
                async with self._new_event:
                    self.events.append(event)
                    self._new_event.notify_all()

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.create_task(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if track.kind == "audio":
                    pcm = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0].astype(np.int16)
                    self.audio.append(ReceivedAudio(time.monotonic(), int(frame.pts), pcm))
                else:
                    self.video.append(ReceivedVideo(time.monotonic(), int(frame.pts), frame))

    async def stop(self) -> None:
        """The page's stop(): close the peer connection (LiveTalking has no 'bye')."""
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
