"""The worker processes of a node: started, watched, restarted when they die, and what they report (their
sessions and their load), so that the routing front can send a request to the worker that owns its session, or a
new session to the worker with the most headroom.

A node's `--max-sessions` is split across its workers (their shares add up to it exactly), so the node as a whole
never holds more. A worker that dies takes its sessions with it; the front ends their websockets with close code
1012 and a reason, the other workers go on, and the dead one is started again (after `restart_delay_s`, doubled
while it keeps dying soon after starting).
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import pickle
import shutil
import socket
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from server.config import ServerConfig
from server.scale.load import CpuMeter, Load

log = logging.getLogger(__name__)

# A routed new session not seen in any report after this long is forgotten (the request never reached admission).
PENDING_S = 5.0
# A session id learned from a response is trusted this long before the owner's reports must list it.
LEARNED_S = 5.0
# A worker that dies within this long of becoming ready doubles its next restart delay.
STABLE_S = 30.0
MAX_RESTART_DELAY_S = 30.0
STOP_TIMEOUT_S = 15.0


def shares(total: int, parts: int) -> list[int]:
    """`total` sessions split into `parts` shares that differ by at most one and add up to `total`."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class WorkerFailed(RuntimeError):
    """A worker process ended before it was ever ready (a configuration it cannot start with)."""


@dataclass
class WorkerProcess:
    index: int
    socket_path: str
    max_sessions: int
    cpu: CpuMeter
    pid: int | None = None
    ready: bool = False
    sessions: frozenset[str] = frozenset()
    decisions: int = 0
    late_fraction: float = 0.0
    rss_mb: float = 0.0
    restarts: int = 0
    started_at: float = 0.0
    routed: deque[float] = field(default_factory=deque)  # new sessions sent to it, not yet in a report
    process: asyncio.subprocess.Process | None = None
    control: asyncio.StreamWriter | None = None
    became_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def load(self, config: ServerConfig, draining: bool) -> Load:
        """Its sessions include the new ones routed to it that it has not reported yet."""
        return Load.of(config, sessions=len(self.sessions) + len(self.routed), max_sessions=self.max_sessions,
                       cpu_share=self.cpu.share, late_fraction=self.late_fraction, draining=draining)

    def apply(self, report: dict[str, Any]) -> None:
        """A `load` report of the worker: its sessions, and the new sessions routed to it that it has now seen."""
        self.sessions = frozenset(report["sessions"])
        seen = report["decisions"] - self.decisions
        self.decisions = report["decisions"]
        for _ in range(min(seen, len(self.routed))):
            self.routed.popleft()
        stale = time.monotonic() - PENDING_S
        while self.routed and self.routed[0] < stale:
            self.routed.popleft()
        self.late_fraction = report["late_fraction"]
        self.rss_mb = report["rss_mb"]
        self.cpu.update(report["cpu_s"])

    def describe(self) -> dict[str, Any]:
        """One worker's entry in the node's /healthz."""
        return {
            "index": self.index,
            "pid": self.pid,
            "state": "ready" if self.ready else "starting",
            "sessions": len(self.sessions),
            "max_sessions": self.max_sessions,
            "cpu_percent": round(100 * self.cpu.share, 1),
            "late_fraction": round(self.late_fraction, 4),
            "rss_mb": round(self.rss_mb, 1),
            "restarts": self.restarts,
        }


class Supervisor:
    def __init__(self, config: ServerConfig, count: int) -> None:
        self.config = config
        self.draining = False
        self._stopping = False
        self._dir = tempfile.mkdtemp(prefix="avatar-workers-")
        cores = (os.cpu_count() or count) / count
        self.workers = [
            WorkerProcess(i, os.path.join(self._dir, f"worker-{i}.sock"), share, CpuMeter(cores))
            for i, share in enumerate(shares(config.max_sessions, count))
        ]
        self._learned: dict[str, tuple[WorkerProcess, float]] = {}
        self._watchers: list[asyncio.Task] = []
        self._reported = asyncio.Event()

    async def start(self) -> None:
        """Start every worker and return once all of them listen; WorkerFailed if one exits before that."""
        self._watchers = [asyncio.create_task(self._keep_running(w)) for w in self.workers]
        all_ready = asyncio.ensure_future(asyncio.gather(*(w.became_ready.wait() for w in self.workers)))
        await asyncio.wait([all_ready, *self._watchers], return_when=asyncio.FIRST_COMPLETED)
        if not all_ready.done():  # a worker's first start failed
            all_ready.cancel()
            failed = next(task for task in self._watchers if task.done())
            await self.stop()
            raise failed.exception() or WorkerFailed("a worker ended before it was ready")
        log.info("%d workers ready: pids %s", len(self.workers), ", ".join(str(w.pid) for w in self.workers))

    def loads(self) -> list[Load]:
        return [w.load(self.config, self.draining) for w in self.workers if w.ready]

    @property
    def sessions(self) -> int:
        return sum(len(w.sessions) for w in self.workers)

    def pick(self, opening: bool) -> WorkerProcess | None:
        """The ready worker with the most headroom (fewest sessions among equals); counted against it at once
        when the request opens a session, so that a burst of new sessions spreads before the next reports."""
        ready = [w for w in self.workers if w.ready]
        if not ready:
            return None

        def preference(worker: WorkerProcess) -> tuple[float, int]:
            load = worker.load(self.config, self.draining)
            return load.headroom, -load.sessions

        best = max(ready, key=preference)
        if opening:
            best.routed.append(time.monotonic())
        return best

    def owner(self, session_id: str) -> WorkerProcess | None:
        """The ready worker holding the session, if any."""
        for worker in self.workers:
            if worker.ready and session_id in worker.sessions:
                return worker
        learned = self._learned.get(session_id)
        if learned is not None and learned[0].ready and time.monotonic() - learned[1] < LEARNED_S:
            return learned[0]
        return None

    def learn(self, session_id: str, worker: WorkerProcess) -> None:
        """A response of `worker` opened this session: route its requests there before its reports list it."""
        self._learned[session_id] = (worker, time.monotonic())

    async def drain(self, timeout_s: float) -> None:
        """No new sessions anywhere; return once every worker reports none open (or after `timeout_s`)."""
        self.draining = True
        for worker in self.workers:
            self._send(worker, {"type": "drain"})
        log.info("draining: no new sessions; waiting for %d open ones to end", self.sessions)
        deadline = time.monotonic() + timeout_s
        while self.sessions or any(w.routed for w in self.workers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("drain timed out with %d sessions open", self.sessions)
                return
            self._reported.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reported.wait(), remaining)

    async def stop(self) -> None:
        """Stop every worker (their sessions end with "server stopping"); kill those that do not stop in time."""
        self._stopping = True
        for worker in self.workers:
            self._send(worker, {"type": "stop"})
        processes = [w.process for w in self.workers if w.process is not None and w.process.returncode is None]
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), STOP_TIMEOUT_S)
        except TimeoutError:
            for process in processes:
                if process.returncode is None:
                    process.kill()
            await asyncio.gather(*(p.wait() for p in processes))
        for task in self._watchers:
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _send(self, worker: WorkerProcess, message: dict[str, Any]) -> None:
        if worker.control is not None and not worker.control.is_closing():
            worker.control.write(json.dumps(message).encode() + b"\n")

    async def _keep_running(self, worker: WorkerProcess) -> None:
        """Run the worker, and run it again whenever it dies, until the node stops."""
        delay = self.config.scale.restart_delay_s
        while not self._stopping:
            code, was_ready = await self._run_once(worker)
            if self._stopping:
                return
            if not was_ready and worker.restarts == 0:
                raise WorkerFailed(f"worker {worker.index} exited with code {code} before it was ready")
            stable = was_ready and time.monotonic() - worker.started_at > STABLE_S
            delay = self.config.scale.restart_delay_s if stable else min(MAX_RESTART_DELAY_S, delay * 2)
            log.error("worker %d (pid %s) exited with code %s; restarting it in %.1f s",
                      worker.index, worker.pid, code, delay)
            await asyncio.sleep(delay)
            worker.restarts += 1

    async def _run_once(self, worker: WorkerProcess) -> tuple[int | None, bool]:
        """Start the worker process and follow its reports until it exits: (exit code, whether it became ready)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(worker.socket_path)
        ours, theirs = socket.socketpair()
        config = dataclasses.replace(self.config, max_sessions=worker.max_sessions)
        try:
            worker.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "server.scale.worker", str(worker.index), worker.socket_path,
                str(theirs.fileno()), stdin=asyncio.subprocess.PIPE, pass_fds=(theirs.fileno(),),
            )
        finally:
            theirs.close()
        worker.pid = worker.process.pid
        worker.process.stdin.write(pickle.dumps(config))
        worker.process.stdin.close()
        reader, worker.control = await asyncio.open_unix_connection(sock=ours)
        was_ready = False
        try:
            while line := await reader.readline():
                message = json.loads(line)
                if message["type"] == "ready":
                    was_ready = True
                    self._ready(worker)
                elif message["type"] == "load":
                    worker.apply(message)
                    self._forget_learned()
                    self._reported.set()
        finally:
            worker.control.close()
            worker.control = None
            self._lost(worker)
        return await worker.process.wait(), was_ready

    def _ready(self, worker: WorkerProcess) -> None:
        worker.ready = True
        worker.started_at = time.monotonic()
        worker.decisions = 0
        worker.routed.clear()
        worker.became_ready.set()
        if self.draining:
            self._send(worker, {"type": "drain"})
        log.info("worker %d ready (pid %d)", worker.index, worker.pid)

    def _forget_learned(self) -> None:
        expired = time.monotonic() - LEARNED_S
        for session_id in [s for s, (_, at) in self._learned.items() if at < expired]:
            del self._learned[session_id]

    def _lost(self, worker: WorkerProcess) -> None:
        if worker.ready and not self._stopping:
            log.error("worker %d lost with %d sessions", worker.index, len(worker.sessions))
        worker.ready = False
        worker.became_ready.clear()
        worker.sessions = frozenset()
        worker.routed.clear()
        worker.cpu = CpuMeter(worker.cpu.cores)
        self._reported.set()
