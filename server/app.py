"""The server: one port for the page, /healthz, /metrics and the session websocket."""
from __future__ import annotations

import asyncio
import logging
import sys
import uuid

from websockets.asyncio.server import Server, ServerConnection, serve

from server.config import ServerConfig
from server.http_routes import HttpRoutes
from server.protocol import ProtocolError, encode
from server.rtc import restrict_ice_hosts
from server.services import Services
from server.session import Session
from server.vp8 import use_rendered_vp8

log = logging.getLogger(__name__)
# Frames above the protocol's 64 KiB limit still arrive, so they can be refused with `too_large` instead of
# ending the connection; only beyond this does the websocket library close it.
WS_MAX_FRAME = 16 * 1024 * 1024
BUSY_CLOSE_CODE = 1013
# Render, encoder and inference threads each take the GIL between native calls; Python's default 5 ms hand-over
# interval lets a frame wait for it several times over, so the server hands it over sooner.
GIL_SWITCH_INTERVAL_S = 0.001


class AvatarServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        if config.ice_hosts:
            restrict_ice_hosts(config.ice_hosts)
        use_rendered_vp8()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        self.services = Services(config)
        self._server: Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await serve(
            self._connect,
            self.config.host,
            self.config.port,
            process_request=HttpRoutes(self.services),
            max_size=WS_MAX_FRAME,
        )
        log.info(
            "listening on http://%s:%d/ (tts %s, face %s on %s, avatar %s)",
            self.config.host,
            self.port,
            self.config.tts,
            self.services.face.name,
            self.services.face.backend,
            self.services.default_avatar.name,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for session in list(self.services.sessions.values()):
            session.close("server stopping")
        await self.services.close()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    async def _connect(self, ws: ServerConnection) -> None:
        services = self.services
        refusal = services.refusal()
        if refusal is not None:
            services.metrics.sessions_refused.inc()
            services.metrics.errors.labels("busy").inc()
            busy = ProtocolError("busy", refusal)
            await ws.send(encode(busy.event()))
            await ws.close(BUSY_CLOSE_CODE, "server full")
            return
        session = Session(ws, services, uuid.uuid4().hex[:12])
        services.sessions[session.id] = session
        services.metrics.sessions_total.inc()
        services.metrics.sessions_active.set(len(services.sessions))
        session.log.info("opened from %s", ws.remote_address)
        try:
            await session.run()
        finally:
            del services.sessions[session.id]
            services.metrics.sessions_active.set(len(services.sessions))
