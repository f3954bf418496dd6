"""glibc's allocator, set up for one long-running process of many threads (render, encoders, inference, TTS).

By default glibc gives threads up to eight arenas per core, and memory freed in one arena serves only the threads
that allocate from it: the free memory of every arena adds up, and the process keeps growing long after its
working set has stopped. Applied when the server starts, before its threads allocate; elsewhere than glibc it
does nothing.

Even with few arenas, glibc returns freed memory to the system only from the top of each heap: what codecs, ONNX
Runtime and the TTS engines free in the middle stays in the process. Measured over an hour (docs/benchmarks.md),
RSS crept up by about 1.4 MB a minute while the bytes in use stayed flat, and a `malloc_trim` brought it back; so
the server trims every minute, on a thread of its own (ctypes releases the GIL for the call).
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # mallopt() parameter, glibc's malloc.h


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def limit_malloc_arenas(arenas: int) -> bool:
    """Let all threads share `arenas` malloc arenas (0: glibc's default). Returns whether glibc took it."""
    if arenas == 0:
        return True
    libc = _glibc()
    if libc is None:
        log.info("no glibc mallopt here: the allocator keeps its own arenas")
        return False
    if libc.mallopt(M_ARENA_MAX, arenas) != 1:
        log.warning("glibc refused to limit malloc arenas to %d", arenas)
        return False
    return True


def return_freed_memory() -> None:
    """Hand the free memory of every arena back to the system (glibc's malloc_trim); elsewhere, nothing."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


async def trim_every(seconds: float) -> None:
    """Return freed memory every `seconds` until cancelled, off the event loop."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(seconds)
        await loop.run_in_executor(None, return_freed_memory)
