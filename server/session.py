"""One websocket connection = one session: its message loop, its peer connection and media, and its teardown.

Every bad message is answered with an `error` event and the loop goes on. Teardown runs exactly once, whatever
ends the session (bye, websocket closed, ICE failed or never connected, a client too slow to read its events),
and releases every task, track and buffer the session holds.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_from_sdp
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from engines.avatar import AvatarRenderer
from server.clock import MediaClock
from server.protocol import (
    Bye,
    Flush,
    Ice,
    Interrupt,
    Message,
    Offer,
    ProtocolError,
    Set,
    Text,
    encode,
    parse_message,
    quote,
)
from server.rtc import answer_offer
from server.services import Services
from server.speaker import Speaker
from server.stage import Stage
from server.tracks import SessionAudioTrack, SessionVideoTrack
from server.voice import VoiceMirror, incoming_voice

logger = logging.getLogger(__name__)
# Events a client may leave unread before it is considered gone.
OUTBOX_LIMIT = 1000
_seeds = itertools.count(1)


class SessionLog(logging.LoggerAdapter):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[session {self.extra['session']}] {msg}", kwargs


class _Media:
    """What exists once the offer is answered."""

    def __init__(self, pc: RTCPeerConnection, stage: Stage, performer: Speaker | VoiceMirror, tracks: list) -> None:
        self.pc = pc
        self.stage = stage
        self.performer = performer  # what makes the avatar speak: text (Speaker) or the client's voice
        self.tracks = tracks


class Session:
    def __init__(self, ws: ServerConnection, services: Services, session_id: str) -> None:
        self.id = session_id
        self._ws = ws
        self._services = services
        self._limits = services.config.limits
        self.log = SessionLog(logger, {"session": session_id})
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(OUTBOX_LIMIT)
        self._media: _Media | None = None
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def run(self) -> None:
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._ice_watchdog())]
        reader = asyncio.create_task(self._read_loop())
        closed = asyncio.create_task(self._closed.wait())
        try:
            await asyncio.wait({reader, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            closed.cancel()
            await asyncio.gather(reader, closed, return_exceptions=True)
            await self._teardown()

    def close(self, reason: str) -> None:
        """Ask the session to end (from a callback or another task)."""
        if not self._closed.is_set():
            self.log.info("closing: %s", reason)
            self._closed.set()

    def emit(self, event: dict[str, Any]) -> None:
        try:
            self._outbox.put_nowait(event)
        except asyncio.QueueFull:
            self.close(f"client left {OUTBOX_LIMIT} events unread")

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for raw in self._ws:
                if self._closed.is_set():  # buffered messages need not be answered once the session is ending
                    return
                received_at = loop.time()
                try:
                    message = parse_message(raw, self._limits.max_message_bytes)
                    if isinstance(message, Bye):
                        self.close("bye")
                        return
                    await self._handle(message, received_at)
                except ProtocolError as error:
                    self._refuse(error)
        except ConnectionClosed:
            pass
        self.close("websocket closed")

    async def _send_loop(self) -> None:
        try:
            while True:
                await self._ws.send(encode(await self._outbox.get()))
        except ConnectionClosed:
            self.close("websocket closed while sending")

    async def _ice_watchdog(self) -> None:
        await asyncio.sleep(self._limits.ice_timeout_s)
        pc = self._media.pc if self._media else None
        if pc is None or pc.iceConnectionState not in ("connected", "completed"):
            self.close(f"ICE did not connect within {self._limits.ice_timeout_s:g} s")

    def _refuse(self, error: ProtocolError) -> None:
        self.log.info("refused message: %s %s", error.code, error.message)
        self._services.metrics.errors.labels(error.code).inc()
        self.emit(error.event())

    async def _handle(self, message: Message, received_at: float) -> None:
        if isinstance(message, Offer):
            await self._offer(message)
            return
        media = self._media
        if media is None:
            raise ProtocolError("no_session", "send an 'offer' first")
        if isinstance(message, (Text, Flush)) and isinstance(media.performer, VoiceMirror):
            raise ProtocolError("bad_message", "in voice mode the avatar speaks with your audio, not with text")
        if isinstance(message, Text):
            if media.performer.pending_chars + len(message.text) > self._limits.max_pending_chars:
                raise ProtocolError(
                    "too_large", f"more than {self._limits.max_pending_chars} characters of text would be pending"
                )
            media.performer.text(message.text, message.id, message.flush)
        elif isinstance(message, Flush):
            media.performer.flush()
        elif isinstance(message, Interrupt):
            media.performer.interrupt(received_at)
        elif isinstance(message, Set):
            self._set(media, message)
        elif isinstance(message, Ice):
            await self._add_candidate(media.pc, message)

    async def _offer(self, offer: Offer) -> None:
        if self._media is not None:
            raise ProtocolError("bad_offer", "this session already has an offer; open a new websocket to renegotiate")
        services = self._services
        bundle = services.avatar(offer.avatar)
        voice = services.voice_id(offer.voice) if offer.voice else services.default_voice
        clock = MediaClock()
        stage = Stage(
            AvatarRenderer(bundle, seed=next(_seeds)),
            services.render_pool,
            services.metrics,
            services.admission.lateness,
        )
        tracks = [SessionAudioTrack(clock, stage), SessionVideoTrack(clock, stage)]
        pc = await answer_offer(offer.sdp, tracks)
        if offer.mode == "voice":
            performer = await self._voice_mirror(pc, stage, clock, tracks)
        else:
            performer = Speaker(
                stage=stage,
                clock=clock,
                voices=services.voices,
                voice=voice,
                face=services.face.open_stream(),
                tts_pool=services.tts_pool,
                metrics=services.metrics,
                limits=self._limits,
                lead_s=services.config.speech_lead_s,
                emit=self.emit,
                log=self.log,
            )
        self._media = _Media(pc, stage, performer, tracks)

        @pc.on("connectionstatechange")
        def _state() -> None:
            self.log.info("peer connection %s", pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                self.close(f"peer connection {pc.connectionState}")

        self.log.info("answered %s-mode offer: avatar %s, voice %s", offer.mode, bundle.name, voice)
        self.emit({"type": "answer", "sdp": pc.localDescription.sdp, "session_id": self.id})

    async def _voice_mirror(
        self, pc: RTCPeerConnection, stage: Stage, clock: MediaClock, tracks: list
    ) -> VoiceMirror:
        try:
            track = incoming_voice(pc)
        except ProtocolError:
            for outgoing in tracks:
                outgoing.stop()
            await pc.close()
            raise
        return VoiceMirror(
            stage=stage,
            clock=clock,
            track=track,
            face=self._services.face.open_stream(),
            metrics=self._services.metrics,
            emit=self.emit,
            log=self.log,
        )

    def _set(self, media: _Media, message: Set) -> None:
        bundle = self._services.avatar(message.avatar) if message.avatar else None
        voice = self._services.voice_id(message.voice) if message.voice else None
        if bundle is not None:
            media.stage.renderer = AvatarRenderer(bundle, seed=next(_seeds))
        if voice is not None and isinstance(media.performer, Speaker):  # voice mode speaks with the client's voice
            media.performer.voice = voice

    async def _add_candidate(self, pc: RTCPeerConnection, message: Ice) -> None:
        if message.candidate is None:
            return
        try:
            line = str(message.candidate["candidate"])
            candidate = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
            candidate.sdpMid = message.candidate.get("sdpMid")
            candidate.sdpMLineIndex = message.candidate.get("sdpMLineIndex")
            await pc.addIceCandidate(candidate)
        except Exception as exc:  # any malformed candidate is the client's error, never the session's end
            raise ProtocolError("bad_message", f"could not use the ICE candidate: {quote(str(exc) or type(exc).__name__)}") from None

    async def _teardown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        media, self._media = self._media, None
        if media is not None:
            await media.performer.close()
            for track in media.tracks:
                track.stop()
            await media.pc.close()
        await self._ws.close()
        self.log.info("session ended")
