"""The HAProxy agent-check of a node: a TCP port that answers every connection with one line, the node's weight
(`up ready 63%`) or `drain` when it takes no new session (full, or shutting down), and closes it.

HAProxy polls it every `agent-inter` (deploy/haproxy.cfg) and weighs the node against the others by the
percentage; a drained node keeps receiving the requests of the sessions it holds (stick table), nothing new.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class AgentCheck:
    def __init__(self, reply: Callable[[], str], host: str, port: int) -> None:
        """`reply()`: the line to answer now (server/scale/load.py agent_reply)."""
        self._reply = reply
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._answer, self._host, self._port)
        log.info("HAProxy agent-check on %s:%d", self._host, self.port)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(self._reply().encode() + b"\n")
            await writer.drain()
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
