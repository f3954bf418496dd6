"""Stopping the background tasks of a session's parts so that nothing of the session outlives it."""
from __future__ import annotations

import asyncio


async def cancel_tasks(tasks: list[asyncio.Task]) -> None:
    """Cancel `tasks`, wait for them, and empty the list.

    A cancelled task keeps its CancelledError, whose traceback holds its coroutine's frames and so the object whose
    method it ran. Left in a list of that object, the task makes a reference cycle that only Python's full
    collections (rare in a process of a million objects) free, and until then everything the session allocated
    (audio buffers, the renderer's state, codecs: megabytes) stays in memory. Emptying the list breaks the cycle,
    and reference counting frees the session at once.
    """
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    tasks.clear()
