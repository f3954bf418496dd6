"""A Python client for programs, tests and tools: one session over the server's websocket, media over WebRTC.

    async with await AvatarClient.connect("ws://127.0.0.1:8080/ws") as avatar:
        await avatar.say("Hello there!")
        ended = await avatar.wait_for("speech_ended")

Received audio and video frames are handed to callbacks (or kept, when asked) with their arrival times, so a
program can measure latency and lip sync as the user's browser would see them. With `decode=False` nothing is
decoded: the client only stamps RTP packets as they arrive (`client.wire`, see client/wire.py), which is what a
load generator needs to measure a server without eating the CPU it measures.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import av
import numpy as np
from aiortc import (
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from client.ice import IceConfig, IceError, check_relay, fetch_ice_config
from client.wire import RtpArrival, WireTap


class ServerError(Exception):
    """The server refused a message or the session (an `error` event)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SessionClosed(ConnectionError):
    """The websocket closed while an event was awaited."""


@dataclass(frozen=True)
class ReceivedAudio:
    arrival: float  # time.monotonic() when decoded
    pts: int  # 48 kHz samples
    pcm: np.ndarray  # int16 mono at 48 kHz


@dataclass
class ReceivedVideo:
    arrival: float
    pts: int  # 90 kHz
    frame: av.VideoFrame

    @functools.cached_property
    def image(self) -> np.ndarray:
        """RGB uint8, converted on first use only (conversion costs more than receiving)."""
        return self.frame.to_ndarray(format="rgb24")


AudioCallback = Callable[[ReceivedAudio], None]
VideoCallback = Callable[[ReceivedVideo], None]


def _prefer(transceiver: RTCRtpTransceiver, codec: str) -> None:
    """Offer `codec` first (then the rest, as aiortc orders them)."""
    codecs = RTCRtpReceiver.getCapabilities(transceiver.kind).codecs
    wanted = f"video/{codec}".lower()
    if not any(c.mimeType.lower() == wanted for c in codecs):
        raise ValueError(f"aiortc cannot receive {codec}")
    transceiver.setCodecPreferences(sorted(codecs, key=lambda c: c.mimeType.lower() != wanted))


def _with_token(url: str, token: str | None) -> str:
    if token is None:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"token": token})) if q)
    return urlunsplit(parts._replace(query=query))


class AvatarClient:
    def __init__(self, ws: ClientConnection, pc: RTCPeerConnection) -> None:
        self._ws = ws
        self._pc = pc
        self.session_id: str | None = None
        self.events: list[dict[str, Any]] = []  # every event received, in order, with "_at" (monotonic time)
        self._new_event = asyncio.Condition()
        self._cursor = 0
        self.audio: list[ReceivedAudio] = []
        self.video: list[ReceivedVideo] = []
        self.video_times: list[tuple[float, int]] = []  # (arrival, pts) of every video frame, kept or not
        self.keep_audio = True
        self.keep_video = False
        self.on_audio: AudioCallback | None = None
        self.on_video: VideoCallback | None = None
        self._tasks: list[asyncio.Task] = []
        self._media_flowing = {"audio": asyncio.Event(), "video": asyncio.Event()}
        self._ice_failed = asyncio.Event()
        pc.on("connectionstatechange", self._on_connection_state)
        self.wire: dict[str, WireTap] = {}  # by kind, when the client does not decode

    @classmethod
    async def connect(
        cls,
        url: str = "ws://127.0.0.1:8080/ws",
        *,
        token: str | None = None,
        avatar: str | None = None,
        voice: str | None = None,
        keep_video: bool = False,
        timeout: float = 15.0,
        mode: str = "text",
        voice_track: MediaStreamTrack | None = None,
        ice: IceConfig | None = None,
        decode: bool = True,
        video_codec: str | None = None,
    ) -> AvatarClient:
        """Open the websocket, make the offer and return once the answer is applied (media then flows).

        In `mode="voice"` the avatar speaks with `voice_track` (any aiortc audio track, e.g. an ArrayAudioTrack),
        sent on a sendrecv audio transceiver; `voice` (a TTS voice) has no effect there. `ice`: the STUN and TURN
        servers and policy of the peer connection (default: the server's, from GET /v1/ice-servers); IceError
        when a relay-only policy leaves it without candidates. `decode=False` receives without decoding (RTP
        arrivals in `wire`, video frames in `video_times`, no frames or callbacks). `video_codec` ("VP8", "H264")
        puts that codec first in the offer, as a browser that prefers it would."""
        ice = ice if ice is not None else await fetch_ice_config(url, token)
        ws = await connect(_with_token(url, token), max_size=None)
        pc = RTCPeerConnection(ice.rtc_configuration())
        client = cls(ws, pc)
        client.keep_video = keep_video
        try:
            await client._negotiate(avatar, voice, timeout, mode, voice_track, ice, decode, video_codec)
        except BaseException:
            await client.close()
            raise
        return client

    async def __aenter__(self) -> AvatarClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _negotiate(
        self,
        avatar: str | None,
        voice: str | None,
        timeout: float,
        mode: str,
        voice_track: MediaStreamTrack | None,
        ice: IceConfig,
        decode: bool,
        video_codec: str | None,
    ) -> None:
        if voice_track is None:
            audio = self._pc.addTransceiver("audio", direction="recvonly")
        else:
            audio = self._pc.addTransceiver(voice_track, direction="sendrecv")
        video = self._pc.addTransceiver("video", direction="recvonly")
        if video_codec is not None:
            _prefer(video, video_codec)
        if decode:
            self._pc.on("track", self._on_track)
        else:
            for transceiver in (audio, video):
                tap = WireTap(transceiver.kind, functools.partial(self._on_packet, transceiver.kind))
                tap.install(transceiver.receiver)
                self.wire[transceiver.kind] = tap
        await self._pc.setLocalDescription(await self._pc.createOffer())
        await check_relay(self._pc.localDescription.sdp, ice)
        offer: dict[str, Any] = {"type": "offer", "sdp": self._pc.localDescription.sdp, "mode": mode}
        offer.update({k: v for k, v in (("avatar", avatar), ("voice", voice)) if v is not None})
        self._tasks.append(asyncio.create_task(self._read_events()))
        with contextlib.suppress(ConnectionClosed):  # a full server refuses before reading: its events say why
            await self.send(offer)
        answer = await self.wait_for("answer", timeout=timeout)
        self.session_id = answer["session_id"]
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

    async def wait_for_media(self, timeout: float = 15.0) -> None:
        """Return once the first audio and the first video frame have arrived (ICE, DTLS and decoding work);
        IceError at once when the connection fails instead."""
        async with asyncio.timeout(timeout):
            flowing = asyncio.gather(*(event.wait() for event in self._media_flowing.values()))
            failed = asyncio.ensure_future(self._ice_failed.wait())
            try:
                await asyncio.wait({flowing, failed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                flowing.cancel()
                failed.cancel()
            if self._ice_failed.is_set():
                raise IceError("the media connection failed: no ICE candidate pair worked (see the server's log)")

    def _on_connection_state(self) -> None:
        if self._pc.connectionState == "failed":
            self._ice_failed.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def say(self, text: str, id: str | None = None) -> None:
        await self.send({"type": "say", "text": text, **({"id": id} if id else {})})

    async def text(self, delta: str, id: str | None = None) -> None:
        await self.send({"type": "text", "text": delta, **({"id": id} if id else {})})

    async def flush(self) -> None:
        await self.send({"type": "flush"})

    async def chat(self, text: str, id: str | None = None) -> None:
        """Ask the server's LLM; its answer streams back as `reply` events and is spoken as it arrives."""
        await self.send({"type": "chat", "text": text, **({"id": id} if id else {})})

    async def stream(self, text: str, chunk_chars: int = 4, interval_s: float = 0.03, id: str | None = None) -> None:
        """Send `text` in small deltas, as an LLM streams tokens, then flush."""
        for i in range(0, len(text), chunk_chars):
            await self.text(text[i : i + chunk_chars], id)
            await asyncio.sleep(interval_s)
        await self.flush()

    async def interrupt(self) -> None:
        await self.send({"type": "interrupt"})

    async def set(self, avatar: str | None = None, voice: str | None = None) -> None:
        await self.send({"type": "set", **{k: v for k, v in (("avatar", avatar), ("voice", voice)) if v}})

    async def wait_for(self, event_type: str, timeout: float = 10.0, raise_errors: bool = True) -> dict[str, Any]:
        """The next event of `event_type` not yet consumed; an `error` event raises ServerError first."""
        async with asyncio.timeout(timeout):
            async with self._new_event:
                while True:
                    while self._cursor < len(self.events):
                        event = self.events[self._cursor]
                        self._cursor += 1
                        if event["type"] == event_type:
                            return event
                        if raise_errors and event["type"] == "error":
                            raise ServerError(event["code"], event["message"])
                        if event["type"] == "closed" and event_type != "closed":
                            raise SessionClosed(f"the server closed the session (code {event['code']})")
                    await self._new_event.wait()

    async def _read_events(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self._ws:
                event = json.loads(raw)
                event["_at"] = time.monotonic()
                async with self._new_event:
                    self.events.append(event)
                    self._new_event.notify_all()
        async with self._new_event:
            self.events.append(
                {"type": "closed", "code": self._ws.close_code, "reason": self._ws.close_reason, "_at": time.monotonic()}
            )
            self._new_event.notify_all()

    def _on_packet(self, kind: str, arrival: RtpArrival) -> None:
        self._media_flowing[kind].set()
        if kind == "video" and arrival.marker:
            self.video_times.append((arrival.at, arrival.timestamp))

    def _on_track(self, track: MediaStreamTrack) -> None:
        consume = self._consume_audio if track.kind == "audio" else self._consume_video
        self._tasks.append(asyncio.create_task(consume(track)))

    async def _consume_audio(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self._media_flowing["audio"].set()
                samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0].astype(np.int16)
                received = ReceivedAudio(time.monotonic(), int(frame.pts), samples)
                if self.keep_audio:
                    self.audio.append(received)
                if self.on_audio:
                    self.on_audio(received)

    async def _consume_video(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self._media_flowing["video"].set()
                received = ReceivedVideo(time.monotonic(), int(frame.pts), frame)
                self.video_times.append((received.arrival, received.pts))
                if self.keep_video:
                    self.video.append(received)
                if self.on_video:
                    self.on_video(received)

    async def close(self) -> None:
        """Say bye, close the websocket and the peer connection, stop the receiving tasks."""
        with contextlib.suppress(Exception):
            await self.send({"type": "bye"})
        await self._ws.close()
        await self._pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
