"""One worker process of a node: a whole server (its own event loop, GIL, encoders and batched face engine) on a
Unix socket that only the node's routing front connects to, reporting its sessions and load to the supervisor.

    python -m server.scale.worker INDEX SOCKET_PATH CONTROL_FD   (the configuration comes pickled on stdin)

The control channel is a Unix socket pair, one JSON object per line. Worker -> supervisor: `ready` once it
listens, then a `load` report every `report_interval_s`. Supervisor -> worker: `drain` (take no new session) and
`stop`. When the supervisor goes away (the channel closes), the worker stops too.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import signal
import socket
import sys
from typing import Any

from engines.tts.base import EngineUnavailable
from server.app import AvatarServer
from server.config import ServerConfig
from server.logs import configure_logging
from server.scale.load import process_cpu_seconds

log = logging.getLogger(__name__)


def report(server: AvatarServer) -> dict[str, Any]:
    """What the supervisor needs to route by headroom and by session id."""
    sessions = server.services.sessions
    with open("/proc/self/statm") as statm:
        rss_mb = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return {
        "type": "load",
        "sessions": list(sessions),
        "decisions": sessions.decisions,
        "late_fraction": sessions.admission.lateness.late_fraction(),
        "cpu_s": process_cpu_seconds(),
        "rss_mb": rss_mb,
    }


async def run(config: ServerConfig, socket_path: str, control: socket.socket) -> None:
    server = AvatarServer(config)
    await server.start(unix_path=socket_path)
    reader, writer = await asyncio.open_unix_connection(sock=control)

    def send(message: dict[str, Any]) -> None:
        writer.write(json.dumps(message).encode() + b"\n")

    async def report_loop() -> None:
        while True:
            send(report(server))
            await asyncio.sleep(config.scale.report_interval_s)

    send({"type": "ready", "pid": os.getpid()})
    reporter = asyncio.create_task(report_loop())
    try:
        while line := await reader.readline():
            command = json.loads(line)
            if command["type"] == "drain":
                server.services.sessions.draining = True
                log.info("draining: no new sessions")
            elif command["type"] == "stop":
                break
    finally:
        reporter.cancel()
        await server.stop()
        writer.close()


def main() -> None:
    index, socket_path, control_fd = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    config: ServerConfig = pickle.load(sys.stdin.buffer)
    configure_logging(config.log_level, worker=index)
    # Ctrl-C reaches the whole process group: the supervisor decides how the node stops, not each worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(run(config, socket_path, socket.socket(fileno=control_fd)))
    except EngineUnavailable as error:  # the supervisor reports the exit; the reason is in this process's log
        raise SystemExit(f"avatar-server worker {index}: {error}") from None


if __name__ == "__main__":
    main()
