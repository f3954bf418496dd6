"""One websocket connection = one session: the session protocol's messages (server/api/connection.py), the
session's pipeline and its viewer's WebRTC peer once the offer is answered, the ICE watchdog, and the teardown.

Every bad message is answered with an `error` event and the loop goes on. Teardown runs exactly once, whatever
ends the session (bye, websocket closed, ICE failed or never connected, a client too slow to read its events),
and releases every task, track and buffer the session holds.
"""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from server.api.connection import WsConnection
from server.api.control import control
from server.api.messages import Ice, Message, Offer
from server.pipeline import events
from server.pipeline.errors import ProtocolError
from server.pipeline.session import SessionPipeline
from server.services import Services
from server.sessions import session_log
from server.transports.webrtc.peer import WebRtcPeer


class WsSession(WsConnection):
    what = "session"

    def __init__(self, ws: web.WebSocketResponse, services: Services, session_id: str) -> None:
        super().__init__(ws, services, session_log(session_id))
        self.id = session_id
        self.pipeline: SessionPipeline | None = None
        self.peer: WebRtcPeer | None = None

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._ice_watchdog()]

    async def _ice_watchdog(self) -> None:
        await asyncio.sleep(self._limits.ice_timeout_s)
        if self.peer is None or not self.peer.connected:
            self.close(f"ICE did not connect within {self._limits.ice_timeout_s:g} s")

    async def _handle(self, message: Message, received_at: float) -> None:
        if isinstance(message, Offer):
            await self._offer(message)
            return
        pipeline, peer = self.pipeline, self.peer
        if pipeline is None or peer is None:
            raise ProtocolError("no_session", "send an 'offer' first")
        if isinstance(message, Ice):
            if message.candidate is not None:
                await peer.add_candidate(message.candidate)
        else:
            control(pipeline, message, self._services, received_at)

    async def _offer(self, offer: Offer) -> None:
        if self.pipeline is not None:
            raise ProtocolError("bad_offer", "this session already has an offer; open a new websocket to renegotiate")
        services = self._services
        bundle = services.avatar(offer.avatar)
        voice = services.voice_id(offer.voice) if offer.voice else services.default_voice
        peer = await WebRtcPeer.answer(offer.sdp)
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

    async def _release(self) -> None:
        pipeline, self.pipeline = self.pipeline, None
        peer, self.peer = self.peer, None
        if pipeline is not None:
            await pipeline.close()
        if peer is not None:
            await peer.close()
