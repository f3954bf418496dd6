"""Running one node: a single server process, or a supervisor with its workers behind the routing front; the
HAProxy agent-check; SIGTERM drains (no new session, the open ones run to their end, then the process exits),
a second SIGTERM or SIGINT stops at once.

`--workers 1` (or a machine with one core) runs the server in this process: nothing in between. With more, the
supervisor starts them and the front takes the public port once every worker is ready (docs/design.md,
"Several worker processes per machine").
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from abc import ABC, abstractmethod

from aiohttp import web

from server.config import ServerConfig
from server.scale.agent import AgentCheck
from server.scale.front import Front
from server.scale.load import CpuMeter, Load, agent_reply, process_cpu_seconds
from server.scale.supervisor import Supervisor

log = logging.getLogger(__name__)


class Node(ABC):
    draining = False

    @abstractmethod
    async def start(self) -> None:
        """Listen on the public port once the node can serve."""

    @abstractmethod
    def loads(self) -> list[Load]:
        """The load of each process that takes sessions."""

    @abstractmethod
    async def drain(self, timeout_s: float) -> None:
        """Take no new session; return once the open ones have ended (or after `timeout_s`)."""

    @abstractmethod
    async def stop(self) -> None:
        """End every session and release the port."""


class SingleProcess(Node):
    def __init__(self, config: ServerConfig) -> None:
        # Imported here: the supervisor of a node with workers never loads the engines (about 80 MB) itself.
        from server.app import AvatarServer

        self.config = config
        self.server = AvatarServer(config)
        self._cpu = CpuMeter(os.cpu_count() or 1)

    async def start(self) -> None:
        await self.server.start()

    def loads(self) -> list[Load]:
        sessions = self.server.services.sessions
        return [Load.of(
            self.config, sessions=len(sessions), max_sessions=self.config.max_sessions,
            cpu_share=self._cpu.update(process_cpu_seconds()),
            late_fraction=sessions.admission.lateness.late_fraction(), draining=self.draining,
        )]

    async def drain(self, timeout_s: float) -> None:
        self.draining = True
        await self.server.drain(timeout_s)

    async def stop(self) -> None:
        await self.server.stop()


class Workers(Node):
    def __init__(self, config: ServerConfig, count: int) -> None:
        self.config = config
        self.supervisor = Supervisor(config, count)
        self.front = Front(config, self.supervisor)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        await self.supervisor.start()
        self._runner = web.AppRunner(self.front.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        log.info("listening on %s with %d workers", site.name, len(self.supervisor.workers))

    def loads(self) -> list[Load]:
        return self.supervisor.loads()

    async def drain(self, timeout_s: float) -> None:
        self.draining = True
        await self.supervisor.drain(timeout_s)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.supervisor.stop()


def create_node(config: ServerConfig) -> Node:
    """One process per core by default, never more workers than sessions to share between them."""
    count = min(config.scale.worker_count(), config.max_sessions)
    return SingleProcess(config) if count == 1 else Workers(config, count)


async def serve(config: ServerConfig) -> None:
    """Run a node until it is stopped (SIGINT, a second SIGTERM) or has drained (SIGTERM)."""
    node = create_node(config)
    await node.start()
    agent = None
    if config.scale.agent_port is not None:
        agent = AgentCheck(lambda: agent_reply(node.loads(), node.draining), config.scale.agent_host,
                           config.scale.agent_port)
        await agent.start()
    stopped = asyncio.Event()
    drains: list[asyncio.Task] = []

    async def drain_then_stop() -> None:
        await node.drain(config.scale.drain_timeout_s)
        log.info("drained: stopping")
        stopped.set()

    def on_sigterm() -> None:
        if drains:
            stopped.set()
        else:
            drains.append(asyncio.create_task(drain_then_stop()))

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    loop.add_signal_handler(signal.SIGINT, stopped.set)
    try:
        await stopped.wait()
    finally:
        for task in drains:
            task.cancel()
        if agent is not None:
            await agent.close()
        await node.stop()
