"""How loaded a server process is, and what that makes of its headroom: the one measure by which a node's front
picks a worker for a new session and by which the HAProxy agent weighs the node against the others."""
from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass

from server.config import ServerConfig

# How fast the CPU estimate follows a change: the time constant of its moving average (s).
CPU_SMOOTHING_S = 2.0


@dataclass(frozen=True)
class Load:
    """One server process's load, as it reports it."""

    sessions: int  # open sessions, plus those routed to it that it has not reported yet
    max_sessions: int
    cpu_share: float  # CPU used over the last seconds / the CPU this process may have (1 = all of it)
    late_fraction: float  # share of its video frames rendered late in the lateness window
    refuses_late: bool  # it refuses new sessions while late_fraction is above max_late_fraction
    max_late_fraction: float
    draining: bool

    @classmethod
    def of(cls, config: ServerConfig, *, sessions: int, max_sessions: int, cpu_share: float, late_fraction: float,
           draining: bool) -> Load:
        """A process's load under `config`'s admission rules."""
        return cls(sessions, max_sessions, cpu_share, late_fraction, config.admit_by_headroom,
                   config.max_late_fraction, draining)

    @property
    def full(self) -> bool:
        """It would refuse a new session now."""
        return (
            self.draining
            or self.sessions >= self.max_sessions
            or (self.refuses_late and self.late_fraction > self.max_late_fraction)
        )

    @property
    def headroom(self) -> float:
        """0 (full) .. 1 (idle): the smaller of the session slots left and the CPU left."""
        if self.full:
            return 0.0
        slots = 1.0 - self.sessions / self.max_sessions
        return max(0.0, min(slots, 1.0 - self.cpu_share))


def agent_reply(loads: Sequence[Load], draining: bool) -> str:
    """The line HAProxy's agent-check reads: `drain` while the node takes no new session (shutting down, or
    every process full), else `up ready` and a weight in percent of the configured one, from the mean headroom.
    `ready` undoes an earlier `drain`; the weight never drops below 1 % (0 % would drain the node)."""
    if draining or not loads or all(load.full for load in loads):
        return "drain"
    weight = round(100 * sum(load.headroom for load in loads) / len(loads))
    return f"up ready {max(1, min(100, weight))}%"


def process_cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """A process's CPU use as a moving average, from successive readings of its CPU time."""

    def __init__(self, cores: float) -> None:
        """`cores`: the CPU this process may use (1.0 = one core)."""
        self.cores = cores
        self._last: tuple[float, float] | None = None
        self.share = 0.0

    def update(self, cpu_seconds: float, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        if self._last is not None:
            elapsed = now - self._last[1]
            if elapsed > 0:
                used = (cpu_seconds - self._last[0]) / elapsed / self.cores
                weight = min(1.0, elapsed / CPU_SMOOTHING_S)
                self.share += weight * (used - self.share)
        self._last = (cpu_seconds, now)
        return self.share
