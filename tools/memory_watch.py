"""Where a server's memory goes while it is soaked: the server runs in this process, `tools.soak` drives it from a
child process, and every interval this prints the resident memory beside the C allocator's own view (glibc
`mallinfo2`: bytes in the main heap and the other arenas, in mmapped blocks, in use and free), the cycle
collector's runs and longest pause, Python's traced heap (tracemalloc, with the lines whose allocations grew most
since the previous interval) and counts of live objects by type (the per-session objects first).

RSS that grows while the allocator's bytes in use stay flat is fragmentation or arenas (try MALLOC_ARENA_MAX);
bytes in use that grow while tracemalloc's total stays flat is native memory (codecs, ONNX Runtime); growth in
both is a Python-level leak, and the top lines say where.

    MALLOC_ARENA_MAX=2 .venv/bin/python -m tools.memory_watch --seconds 900 --tracemalloc -- --sessions 3
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

from harness.server_process import free_port, loopback_args, sample_process
from server.allocator import return_freed_memory
from server.app import AvatarServer
from server.cli import parse_args as server_args

PER_SESSION_TYPES = (
    "WsSession", "SessionPipeline", "Speaker", "SessionMedia", "Subscription", "RTCPeerConnection",
    "SessionAudioTrack", "SessionVideoTrack", "RTCRtpSender", "RTCRtpReceiver", "RTCDtlsTransport",
    "RTCIceTransport", "Connection", "AvatarRenderer", "Utterance",
)


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = MallInfo2


def allocator() -> dict[str, float]:
    """glibc's totals over every arena, in MB: heap obtained with sbrk/mmap for arenas, mmapped big blocks,
    bytes in use and bytes free inside the arenas."""
    info = _libc.mallinfo2()
    mb = 1024 * 1024
    return {
        "arena_mb": round(info.arena / mb, 1),
        "mmapped_mb": round(info.hblkhd / mb, 1),
        "in_use_mb": round((info.uordblks + info.hblkhd) / mb, 1),
        "free_in_arenas_mb": round(info.fordblks / mb, 1),
    }


def mappings() -> dict[str, float]:
    """Resident memory by kind of mapping (/proc/self/smaps), in MB: the main heap, glibc's thread arenas (heaps
    aligned to their 64 MiB reservation), thread stacks (8 MiB), other anonymous memory (Python's object arenas,
    big mmapped blocks, native libraries' own) and files (code, the model)."""
    kinds: dict[str, float] = collections.defaultdict(float)
    size = start = name = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                size, name = end - start, fields[5] if len(fields) > 5 else ""
            elif fields[0] == "Rss:" and size is not None:
                mb = int(fields[1]) / 1024
                if name == "[heap]":
                    kind = "heap"
                elif name.startswith("/"):
                    kind = "files"
                elif name:
                    kind = "other_named"
                elif start % (64 << 20) == 0 and size <= 64 << 20:  # glibc aligns each arena heap to its size
                    kind = "thread_arenas"
                elif size in (8 << 20, (8 << 20) + 4096):
                    kind = "stacks"
                else:
                    kind = "anonymous"
                kinds[kind] += mb
    return {f"{k}_mb": round(v, 1) for k, v in sorted(kinds.items())}


def object_counts() -> dict[str, int]:
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    tracked = {name: counts.get(name, 0) for name in PER_SESSION_TYPES}
    top = dict(counts.most_common(8))
    return tracked | {f"top:{k}": v for k, v in top.items()}


class GcPauses:
    """The cycle collector's runs since the last `take`: how many of each generation, and the longest (ms); each
    one stops the event loop, so every session's frames, while it runs."""

    def __init__(self) -> None:
        self._began = 0.0
        self._runs = [0, 0, 0]
        self._longest = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        self._runs[info["generation"]] += 1
        self._longest = max(self._longest, (time.perf_counter() - self._began) * 1000)

    def take(self) -> dict[str, Any]:
        report = {"gc_runs_by_generation": self._runs, "gc_longest_ms": round(self._longest, 1)}
        self._runs, self._longest = [0, 0, 0], 0.0
        return report


def traced(previous: tracemalloc.Snapshot | None, lines: int) -> tuple[dict[str, Any], tracemalloc.Snapshot]:
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    total = sum(stat.size for stat in snapshot.statistics("filename"))
    report: dict[str, Any] = {"traced_mb": round(total / 1024 / 1024, 1)}
    if previous is not None:
        report["grew"] = [
            f"{stat.size_diff / 1024:+.0f} KiB {stat.count_diff:+d} blocks {stat.traceback.format()[-1].strip()}"
            for stat in snapshot.compare_to(previous, "lineno")[:lines]
        ]
    return report, snapshot


async def watch(args: argparse.Namespace, soak_args: Sequence[str]) -> None:
    if args.tracemalloc:
        tracemalloc.start(args.frames)
    port = free_port()
    server = AvatarServer(server_args(["--port", str(port), "--ice-host", "127.0.0.1", "--log-level", "WARNING",
                                       *loopback_args(), *args.server_arg]))
    await server.start()
    soak = subprocess.Popen([sys.executable, "-m", "tools.soak", "--url", f"ws://127.0.0.1:{port}/ws",
                             "--seconds", str(args.seconds), *soak_args], stdout=subprocess.DEVNULL)
    started = time.monotonic()
    snapshot = None
    pauses = GcPauses()
    try:
        while soak.poll() is None:
            await asyncio.sleep(args.sample_s)
            row: dict[str, Any] = {"at_s": round(time.monotonic() - started),
                                   "rss_mb": round(sample_process(os.getpid()).rss_mb, 1),
                                   "sessions": len(server.services.sessions)}
            row |= allocator() | pauses.take()
            row["maps"] = mappings()
            if args.malloc_trim:
                return_freed_memory()
                row["rss_after_trim_mb"] = round(sample_process(os.getpid()).rss_mb, 1)
            if args.tracemalloc:
                report, snapshot = traced(snapshot, args.lines)
                row |= report
            if args.objects:
                row["objects"] = object_counts()
            print(json.dumps(row), flush=True)
    finally:
        soak.terminate()
        soak.wait()
        await server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    soak_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=900.0, help="how long the soak runs")
    p.add_argument("--sample-s", type=float, default=30.0)
    p.add_argument("--tracemalloc", action="store_true", help="trace Python allocations (slows the server)")
    p.add_argument("--frames", type=int, default=8, help="traceback depth of tracemalloc")
    p.add_argument("--lines", type=int, default=12, help="growing lines printed per interval")
    p.add_argument("--objects", action="store_true", help="count live objects by type (a full gc walk)")
    p.add_argument("--malloc-trim", action="store_true", help="malloc_trim(0) every interval, RSS after it")
    p.add_argument("--server-arg", action="append", default=[])
    asyncio.run(watch(p.parse_args(own), soak_args))


if __name__ == "__main__":
    main()
