"""The process: shared services, the HTTP app on one port, start and stop."""
from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from server.allocator import limit_malloc_arenas
from server.api.routes import make_app
from server.config import ServerConfig
from server.services import Services
from server.transports.webrtc.ice import restrict_ice_hosts, turn_failure
from server.transports.webrtc.vp8 import use_rendered_vp8

log = logging.getLogger(__name__)


class AvatarServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        limit_malloc_arenas(config.memory.malloc_arenas)  # before the server's threads allocate
        if config.ice_hosts:
            restrict_ice_hosts(config.ice_hosts)
        use_rendered_vp8(config.workers.vp8_speed)
        # Render, encoder and inference threads each take the GIL between native calls; Python's default 5 ms
        # hand-over interval lets a frame wait for it several times over, so the server hands it over sooner.
        sys.setswitchinterval(config.workers.gil_switch_interval_s)
        self.services = Services(config)
        self.app = make_app(self.services)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def port(self) -> int:
        assert self._runner is not None
        return self._runner.addresses[0][1]

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await self._site.start()
        log.info(
            "listening on http://%s:%d/ (tts %s, face %s on %s, renderer %s, avatar %s)",
            self.config.host,
            self.port,
            self.config.tts,
            self.services.face.name,
            self.services.face.backend,
            self.services.renderers.name,
            self.services.default_avatar.name,
        )
        await self._check_turn()

    async def _check_turn(self) -> None:
        """Ask the TURN server for an allocation once at start, so that wrong credentials show in the log before
        the first session fails on them (the server keeps running: the TURN server may come up later)."""
        servers = self.services.ice_servers("start-up-check")
        if not any(server.is_turn for server in servers):
            return
        reason = await turn_failure(servers)
        if reason is None:
            log.info("TURN server grants relays (ICE transport policy %s)", self.config.ice.ice_transport_policy)
        elif self.services.relay_only:
            log.error("%s: with --ice-transport-policy relay no session can connect", reason)
        else:
            log.warning("%s: sessions fall back to direct candidates", reason)

    async def stop(self) -> None:
        self._close_sessions()
        if self._runner is not None:
            await self._runner.cleanup()
        self._close_sessions()  # any that a request still opened while the handlers finished
        await self.services.sessions.drained()
        await self.services.close()

    def _close_sessions(self) -> None:
        for session in list(self.services.sessions.values()):
            session.close("server stopping")

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()
