"""One websocket connection = one session: the message loop of docs/protocol.md, the session's pipeline, its
viewer's WebRTC peer and its LLM conversation once the offer is answered (a LiveSession), and the teardown.

Every bad message is answered with an `error` event and the loop goes on. Teardown runs exactly once, whatever
ends the session (bye, websocket closed, ICE failed or never connected, a client too slow to read its events),
and releases every task, track and buffer the session holds.
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import WSMsgType, web

from server.api.live_session import LiveSession, ice_watchdog
from server.api.messages import (
    Bye,
    Chat,
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
from server.services import Services
from server.sessions import session_log


class WsSession:
    def __init__(self, ws: web.WebSocketResponse, services: Services, session_id: str) -> None:
        self.id = session_id
        self._ws = ws
        self._services = services
        self._limits = services.config.limits
        self.log = session_log(session_id)
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._limits.outbox_limit)
        self.live: LiveSession | None = None
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def run(self) -> None:
        watchdog = ice_watchdog(self._limits.ice_timeout_s, self._connected, self.close)
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(watchdog)]
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

    def _connected(self) -> bool:
        return self.live is not None and self.live.connected

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

    def _refuse(self, error: ProtocolError) -> None:
        self.log.info("refused message: %s %s", error.code, error.message)
        self._services.metrics.errors.labels(error.code).inc()
        self.emit(error.event())

    async def _handle(self, message: Message, received_at: float) -> None:
        if isinstance(message, Offer):
            await self._offer(message)
            return
        live = self.live
        if live is None:
            raise ProtocolError("no_session", "send an 'offer' first")
        if isinstance(message, Text):
            live.text(message.text, message.id, message.flush)
        elif isinstance(message, Chat):
            live.chat(message.text, message.id)
        elif isinstance(message, Flush):
            live.flush()
        elif isinstance(message, Interrupt):
            live.interrupt(received_at)
        elif isinstance(message, Set):
            bundle = self._services.avatar(message.avatar) if message.avatar else None
            voice = self._services.voice_id(message.voice) if message.voice else None
            live.pipeline.set(bundle, voice)
        elif isinstance(message, Ice) and message.candidate is not None:
            await live.peer.add_candidate(message.candidate)

    async def _offer(self, offer: Offer) -> None:
        if self.live is not None:
            raise ProtocolError("bad_offer", "this session already has an offer; open a new websocket to renegotiate")
        self.live = await LiveSession.open(self._services, self.log, offer, self.close, listener=self.emit)
        self.emit(events.answer(self.live.peer.local_sdp, self.id))

    async def _teardown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        live, self.live = self.live, None
        if live is not None:
            await live.close()
        await self._ws.close()
        self.log.info("session ended")
