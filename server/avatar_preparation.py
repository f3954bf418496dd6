"""Uploaded photos made into avatar bundles (engines/avatar/prepare.py) in a worker process of their own, one at a
time, at a lower scheduling priority: preparation takes seconds of CPU and loads MediaPipe (over 100 MB), none of
which may stall the event loop that paces the live sessions, nor grow the server's own memory.

The process is started (spawned: never a fork of a process with threads) on the first upload and kept for the
next; a refusal (PreparationError, with the protocol's code) comes back from it intact.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from engines.avatar.prepare import prepare_avatar

log = logging.getLogger(__name__)


class AvatarPreparer:
    def __init__(self, folder: Path, nice: int) -> None:
        self.folder = folder
        self._nice = nice
        self._pool: ProcessPoolExecutor | None = None

    async def prepare(self, photo: bytes, name: str) -> Path:
        """The bundle folder made from `photo` under `name` in the uploads folder; PreparationError when the photo
        cannot become an avatar. Uploads wait their turn."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=os.nice, initargs=(self._nice,))
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, prepare_avatar, photo, name, self.folder)
        except BrokenProcessPool:  # the worker died (killed, out of memory): the next upload gets a fresh one
            log.error("the avatar preparation process died while preparing %r", name)
            self._pool = None
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
