"""The server under measurement: started as a child process (or one already running), its CPU time and memory
read from /proc, and its /metrics scraped, so the benchmarks can put the server's own numbers beside the
client's."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Every client of a measured or tested server comes from 127.0.0.1: the per-address limits (the server's
# `security` settings) are raised so that they never decide a measurement, only the tests of those limits.
LOOPBACK_SECURITY = {"max_sessions_per_ip": 1000, "connect_rate_per_min": 60000.0, "connect_burst": 1000}


def loopback_args() -> list[str]:
    """LOOPBACK_SECURITY as command-line options of the server."""
    return [item for key, value in LOOPBACK_SECURITY.items() for item in (f"--{key.replace('_', '-')}", str(value))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class ProcessSample:
    at: float  # time.monotonic()
    cpu_s: float  # user + system CPU seconds of the process so far
    rss_mb: float

    def cpu_percent_since(self, earlier: ProcessSample) -> float:
        """CPU use between two samples, in percent of one core."""
        return 100.0 * (self.cpu_s - earlier.cpu_s) / max(1e-9, self.at - earlier.at)


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: fields[1] is the parent pid, [11] and [12] utime and stime."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def sample_process(pid: int) -> ProcessSample:
    fields = _stat_fields(pid)
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return ProcessSample(time.monotonic(), cpu, _rss_mb(pid))


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (a server's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
            except (OSError, IndexError):  # the process ended while the table was read
                continue
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def sample_tree(pid: int) -> ProcessSample:
    """CPU and memory of a process and all its descendants together (a server with worker processes).

    CPU counts only processes alive now, so a worker that ended between two samples drops its time out."""
    samples = []
    for member in [pid, *descendants(pid)]:
        try:
            samples.append(sample_process(member))
        except OSError:
            continue
    return ProcessSample(time.monotonic(), sum(s.cpu_s for s in samples), sum(s.rss_mb for s in samples))


class ServerProcess:
    """`python -m server` on a free loopback port, ICE on loopback; stopped (and waited for) on exit."""

    def __init__(self, extra_args: Sequence[str] = (), log_path: Path | None = None) -> None:
        self.port = free_port()
        self._args = [sys.executable, "-m", "server", "--port", str(self.port), "--ice-host", "127.0.0.1",
                      "--log-level", "WARNING", *loopback_args(), *extra_args]
        self._log_path = log_path
        self._proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float) -> int:
        """The exit code, once the server has exited on its own (drained); TimeoutExpired if not in time."""
        assert self._proc is not None
        return self._proc.wait(timeout)

    def __enter__(self) -> ServerProcess:
        log = open(self._log_path, "w") if self._log_path else subprocess.DEVNULL
        self._proc = subprocess.Popen(self._args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        wait_healthy(self.base_url, self._proc)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGINT)  # stop now (SIGTERM would drain: wait for open sessions to end)
        try:
            self._proc.wait(15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def wait_healthy(base_url: str, proc: subprocess.Popen | None = None, timeout: float = 120.0) -> dict:
    """/healthz once it answers; the server loads its models first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def http_base(ws_url: str) -> str:
    """http://host:port of a ws://host:port/ws URL."""
    parts = urlsplit(ws_url)
    return urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, "", "", ""))


def scrape_metrics(base_url: str, token: str | None = None) -> dict[str, float]:
    """Every sample of /metrics by its name and labels, e.g. 'avatar_errors_total{code="busy"}'."""
    url = base_url + "/metrics" + (f"?{urlencode({'token': token})}" if token else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Counter and histogram growth between two scrapes (gauges as their last value)."""
    return {name: value - before.get(name, 0.0) for name, value in after.items()}


def histogram_quantile(delta: dict[str, float], name: str, q: float) -> float | None:
    """Upper bound of the bucket holding quantile `q` of a histogram's observations in `delta`."""
    buckets = sorted(
        (float(key.split('le="')[1].split('"')[0]), count)
        for key, count in delta.items()
        if key.startswith(f"{name}_bucket{{")
    )
    total = delta.get(f"{name}_count", 0.0)
    if not total:
        return None
    return next(le for le, count in buckets if count >= q * total)
