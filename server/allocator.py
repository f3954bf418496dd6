"""glibc's allocator, set up for one long-running process of many threads (render, encoders, inference, TTS).

By default glibc gives threads up to eight arenas per core, and memory freed in one arena serves only the threads
that allocate from it: the free memory of every arena adds up, and the process keeps growing long after its
working set has stopped. Applied when the server starts, before its threads allocate; elsewhere than glibc it
does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # mallopt() parameter, glibc's malloc.h


def limit_malloc_arenas(arenas: int) -> bool:
    """Let all threads share `arenas` malloc arenas (0: glibc's default). Returns whether glibc took it."""
    if arenas == 0:
        return True
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        log.info("no glibc mallopt here: the allocator keeps its own arenas")
        return False
    if mallopt(M_ARENA_MAX, arenas) != 1:
        log.warning("glibc refused to limit malloc arenas to %d", arenas)
        return False
    return True
