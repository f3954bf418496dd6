"""One websocket connection = one session: the message loop of docs/protocol.md, the session's pipeline and its
viewer's WebRTC peer once the offer is answered, and the teardown.

Every bad message is answered with an `error` event and the loop goes on. Teardown runs exactly once, whatever
ends the session (bye, websocket closed, ICE failed or never connected, a client too slow to read its events),
and releases every task, track and buffer the session holds.
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import WSMsgType, web

from server.api.messages import (
    Bye,
    Flush,
    Ice,
    Interrupt,
    Message,
    Offer,
    Set,
    Text,
    encode,
    parse_message,
)
from server.pipeline import events
from server.pipeline.errors import ProtocolError
from server.pipeline.session import SessionPipeline
from server.services import Services
from server.sessions import session_log
from server.transports.webrtc.peer import WebRtcPeer


class WsSession:
    def __init__(self, ws: web.WebSocketResponse, services: Services, session_id: str) -> None:
        self.id = session_id
        self._ws = ws
        self._services = services
        self._limits = services.config.limits
        self.log = session_log(session_id)
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._limits.outbox_limit)
        self.pipeline: SessionPipeline | None = None
        self.peer: WebRtcPeer | None = None
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
            self.close(f"client left {self._limits.outbox_limit} events unread")

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        async for raw in self._ws:
            if self._closed.is_set():  # buffered messages need not be answered once the session is ending
                return
            if raw.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            received_at = loop.time()
            try:
                message = parse_message(raw.data, self._limits.max_message_bytes)
                if isinstance(message, Bye):
                    self.close("bye")
                    return
                await self._handle(message, received_at)
            except ProtocolError as error:
                self._refuse(error)
        self.close("websocket closed")

    async def _send_loop(self) -> None:
        try:
            while True:
                await self._ws.send_str(encode(await self._outbox.get()))
        except ConnectionError:
            self.close("websocket closed while sending")

    async def _ice_watchdog(self) -> None:
        await asyncio.sleep(self._limits.ice_timeout_s)
        if self.peer is None or not self.peer.connected:
            self.close(f"ICE did not connect within {self._limits.ice_timeout_s:g} s")

    def _refuse(self, error: ProtocolError) -> None:
        self.log.info("refused message: %s %s", error.code, error.message)
        self._services.metrics.errors.labels(error.code).inc()
        self.emit(error.event())

    async def _handle(self, message: Message, received_at: float) -> None:
        if isinstance(message, Offer):
            await self._offer(message)
            return
        pipeline, peer = self.pipeline, self.peer
        if pipeline is None or peer is None:
            raise ProtocolError("no_session", "send an 'offer' first")
        if isinstance(message, Text):
            pipeline.text(message.text, message.id, message.flush)
        elif isinstance(message, Flush):
            pipeline.flush()
        elif isinstance(message, Interrupt):
            pipeline.interrupt(received_at)
        elif isinstance(message, Set):
            bundle = self._services.avatar(message.avatar) if message.avatar else None
            voice = self._services.voice_id(message.voice) if message.voice else None
            pipeline.set(bundle, voice)
        elif isinstance(message, Ice) and message.candidate is not None:
            await peer.add_candidate(message.candidate)

    async def _offer(self, offer: Offer) -> None:
        if self.pipeline is not None:
            raise ProtocolError("bad_offer", "this session already has an offer; open a new websocket to renegotiate")
        services = self._services
        bundle = services.avatar(offer.avatar)
        voice = services.voice_id(offer.voice) if offer.voice else services.default_voice
        peer = await WebRtcPeer.answer(offer.sdp, services.encoding)
        try:
            voice_input = peer.voice_input() if offer.mode == "voice" else None
        except ProtocolError:
            await peer.close()
            raise
        pipeline = SessionPipeline(services.pipeline, avatar=bundle, voice=voice, log=self.log, voice_input=voice_input)
        pipeline.events.listen(self.emit)
        await peer.start(pipeline)
        self.pipeline, self.peer = pipeline, peer

        def state(value: str) -> None:
            self.log.info("peer connection %s", value)
            if value in ("failed", "closed"):
                self.close(f"peer connection {value}")

        peer.on_state(state)
        self.log.info("answered %s-mode offer: avatar %s, voice %s", offer.mode, bundle.name, voice)
        self.emit(events.answer(peer.local_sdp, self.id))

    async def _teardown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        pipeline, self.pipeline = self.pipeline, None
        peer, self.peer = self.peer, None
        if pipeline is not None:
            await pipeline.close()
        if peer is not None:
            await peer.close()
        await self._ws.close()
        self.log.info("session ended")
