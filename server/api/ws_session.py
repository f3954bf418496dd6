"""One websocket connection = one session: the session protocol's messages (server/api/connection.py), the
session's pipeline, its viewer's WebRTC peer and its LLM conversation once the offer is answered (a LiveSession),
the ICE watchdog, and the teardown.

Every bad message is answered with an `error` event and the loop goes on. Teardown runs exactly once, whatever
ends the session (bye, websocket closed, ICE failed or never connected, a client too slow to read its events),
and releases every task, track and buffer the session holds.
"""
from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from server.api.connection import WsConnection
from server.api.control import control
from server.api.live_session import LiveSession, ice_watchdog
from server.api.messages import Chat, Ice, Message, Offer
from server.pipeline import events
from server.pipeline.errors import ProtocolError
from server.services import Services
from server.sessions import session_log


class WsSession(WsConnection):
    what = "session"

    def __init__(
        self, request: web.Request, ws: web.WebSocketResponse, services: Services, session_id: str
    ) -> None:
        super().__init__(request, ws, services, session_log(session_id))
        self.id = session_id
        self.live: LiveSession | None = None

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        return [ice_watchdog(self._limits.ice_timeout_s, self._connected, self.close)]

    def _connected(self) -> bool:
        return self.live is not None and self.live.connected

    async def _handle(self, message: Message, received_at: float) -> None:
        if isinstance(message, Offer):
            await self._offer(message)
            return
        live = self.live
        if live is None:
            raise ProtocolError("no_session", "send an 'offer' first")
        if isinstance(message, Ice):
            if message.candidate is not None:
                await live.add_candidate(message.candidate)
        elif isinstance(message, Chat):
            live.chat(message.text, message.id)
        else:
            control(live, message, self._services, received_at)

    async def _offer(self, offer: Offer) -> None:
        if self.live is not None:
            raise ProtocolError("bad_offer", "this session already has an offer; open a new websocket to renegotiate")
        self.live = await LiveSession.open(
            self._services, self.id, self.log, offer, self.close, listener=self.emit
        )
        self.emit(events.answer(self.live.peer.local_sdp, self.id))

    async def _release(self) -> None:
        live, self.live = self.live, None
        if live is not None:
            await live.close()
