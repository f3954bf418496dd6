"""The process: shared services, the HTTP app on one port (or, as a node's worker, on a Unix socket behind the
node's routing front), start, drain and stop."""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys

from aiohttp import web

from server.allocator import limit_malloc_arenas, return_freed_memory, trim_every
from server.api.affinity import forwarded_client
from server.api.routes import make_app
from server.config import ServerConfig
from server.services import Services
from server.transports.webrtc.ice import restrict_ice_hosts, turn_failure

log = logging.getLogger(__name__)


class AvatarServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        limit_malloc_arenas(config.memory.malloc_arenas)  # before the server's threads allocate
        if config.ice_hosts:
            restrict_ice_hosts(config.ice_hosts)
        # Render, encoder and inference threads each take the GIL between native calls; Python's default 5 ms
        # hand-over interval lets a frame wait for it several times over, so the server hands it over sooner.
        sys.setswitchinterval(config.workers.gil_switch_interval_s)
        self.services = Services(config)
        # Start-up freed the heap it parsed and copied models in: back to the system, or every worker process of
        # a node would carry it for its whole life.
        return_freed_memory()
        self.app = make_app(self.services)
        # What start-up loaded lives as long as the process: out of the cycle collector's sight, a full collection
        # walks only what sessions made (well under a millisecond, where the whole heap took ~80 ms, a stall of
        # every session's frames), and runs often enough to free a closed session's reference cycles soon. The
        # collection after the freeze sets the collector's count of old objects to what is left to watch.
        gc.collect()
        gc.freeze()
        gc.collect()
        self._runner: web.AppRunner | None = None
        self._trimming: asyncio.Task | None = None

    @property
    def port(self) -> int:
        assert self._runner is not None
        return self._runner.addresses[0][1]

    async def start(self, unix_path: str | None = None) -> None:
        """Listen on the configured host and port, or on the Unix socket `unix_path` (a node's worker)."""
        if unix_path is not None:
            self.app.middlewares.append(forwarded_client)
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        if unix_path is None:
            site: web.BaseSite = web.TCPSite(self._runner, self.config.host, self.config.port)
        else:
            site = web.UnixSite(self._runner, unix_path)
        await site.start()
        if self.config.memory.malloc_trim_every_s > 0:
            self._trimming = asyncio.create_task(trim_every(self.config.memory.malloc_trim_every_s))
        log.info(
            "listening on %s (tts %s, face %s on %s, renderer %s, avatar %s)",
            site.name,
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

    async def drain(self, timeout_s: float) -> None:
        """Take no new session and wait (at most `timeout_s`) until the open ones have ended."""
        self.services.sessions.draining = True
        log.info("draining: no new sessions; waiting for %d open ones to end", len(self.services.sessions))
        try:
            await asyncio.wait_for(self.services.sessions.drained(), timeout_s)
        except TimeoutError:
            log.warning("drain timed out with %d sessions open", len(self.services.sessions))

    async def stop(self) -> None:
        if self._trimming is not None:
            self._trimming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._trimming
        self._close_sessions()
        if self._runner is not None:
            await self._runner.cleanup()
        self._close_sessions()  # any that a request still opened while the handlers finished
        await self.services.sessions.drained()
        await self.services.close()

    def _close_sessions(self) -> None:
        for session in list(self.services.sessions.values()):
            session.close("server stopping")

