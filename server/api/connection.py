"""A websocket that speaks the session protocol (docs/protocol.md): the outbox of events, the read loop that parses
every message and answers a refused one with an `error` event, the send loop, and a teardown that runs exactly
once, whatever ends the connection (bye, the websocket closing, a client too slow to read its events, the server).

What a message does and what the connection holds beyond the websocket is its subclass's: a viewer's session
(server/api/ws_session.py) or the control of a broadcast (server/api/broadcast.py).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSMsgType, web

from server.api.messages import Bye, Message, encode, parse_message
from server.pipeline.errors import ProtocolError
from server.pipeline.tasks import cancel_tasks
from server.services import Services


class WsConnection:
    what = "connection"  # how the log names it

    def __init__(
        self, request: web.Request, ws: web.WebSocketResponse, services: Services, log: logging.LoggerAdapter
    ) -> None:
        self._request = request
        self._ws = ws
        self._services = services
        self._limits = services.config.limits
        self.log = log
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._limits.outbox_limit)
        self._closed = asyncio.Event()
        self._abandoned = False  # the client stopped reading: no close handshake, the socket is dropped
        self._tasks: list[asyncio.Task] = []

    async def run(self) -> None:
        """Serve the websocket until the connection ends, then release everything it holds."""
        self._tasks = [asyncio.create_task(self._send_loop()), *map(asyncio.create_task, self._background())]
        reader = asyncio.create_task(self._read_loop())
        closed = asyncio.create_task(self._closed.wait())
        try:
            await asyncio.wait({reader, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            closed.cancel()
            await asyncio.gather(reader, closed, return_exceptions=True)
            await cancel_tasks(self._tasks)
            await self._release()
            await self._close_websocket()
            self.log.info("%s ended", self.what)

    def close(self, reason: str) -> None:
        """Ask the connection to end (from a callback or another task)."""
        if not self._closed.is_set():
            self.log.info("closing: %s", reason)
            self._closed.set()

    def emit(self, event: dict[str, Any]) -> None:
        try:
            self._outbox.put_nowait(event)
        except asyncio.QueueFull:
            self._abandoned = True
            self.close(f"client left {self._limits.outbox_limit} events unread")

    async def _close_websocket(self) -> None:
        """A client that stopped reading would never take the close frame nor the bytes queued before it: a
        graceful close of its socket waits for them forever, so its transport is aborted instead."""
        if self._abandoned and self._request.transport is not None:
            self._request.transport.abort()
        await self._ws.close()

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        """What else runs for as long as the connection does (cancelled at its end)."""
        return []

    async def _handle(self, message: Message, received_at: float) -> None:
        """Do what `message` asks, or raise ProtocolError (answered with an `error` event)."""
        raise NotImplementedError

    async def _release(self) -> None:
        """Release what the connection holds besides its websocket."""

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        async for raw in self._ws:
            if self._closed.is_set():  # buffered messages need not be answered once the connection is ending
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
        except Exception:  # a bug; without this loop the client would wait for events forever
            self.log.exception("could not send an event")
            self.close("could not send an event")

    def _refuse(self, error: ProtocolError) -> None:
        self.log.info("refused message: %s %s", error.code, error.message)
        self._services.metrics.errors.labels(error.code).inc()
        self.emit(error.event())
