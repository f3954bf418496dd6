"""The allocator settings of a long-running server: freed heap memory handed back to the system (glibc keeps what
was freed below the top of its heap), by the server every `malloc_trim_every_s`."""
from __future__ import annotations

import asyncio
import ctypes

import pytest

from server import allocator
from server.app import AvatarServer
from tests.conftest import make_config


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(allocator._glibc() is None, reason="glibc's allocator only")
def test_freed_memory_below_the_heap_top_goes_back_to_the_system():
    libc = allocator._glibc()
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(4096) for _ in range(50_000)]  # 200 MB of small blocks, below glibc's mmap threshold
    pinned = libc.malloc(4096)  # keeps the top of the heap in use, as a long-running process does
    for block in blocks:
        libc.memset(ctypes.c_void_p(block), 1, 4096)
    for block in blocks:
        libc.free(block)
    before = resident_mb()
    allocator.return_freed_memory()
    after = resident_mb()
    libc.free(pinned)
    assert before - after > 150, (before, after)


async def test_the_server_trims_on_its_period_and_stops_with_it(monkeypatch):
    trims = []
    monkeypatch.setattr(allocator, "return_freed_memory", lambda: trims.append(1))
    server = AvatarServer(make_config(memory={"malloc_trim_every_s": 0.05}))
    await server.start()
    await asyncio.sleep(0.5)
    await server.stop()
    count = len(trims)
    assert count >= 3
    await asyncio.sleep(0.2)
    assert len(trims) == count  # no trimming left running after stop
