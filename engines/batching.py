"""Gathers the requests that the sessions of a process make in one event-loop tick into one batch.

Every session awaits `batcher.submit(request)`. Requests made in the same tick are gathered (the flush is
scheduled with `call_soon`, which runs after every callback already due), and requests arriving while a batch is
being processed wait and go together into the next one. The face network (engines/face/batcher.py) and the tensor
renderer (engines/avatar/torch_engine.py) batch their sessions this way; each gives the coroutine that turns one
batch of requests into their results, usually on a worker thread so the loop keeps pacing audio and video.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")


class TickBatcher(Generic[Request, Result]):
    def __init__(self, process: Callable[[list[Request]], Awaitable[list[Result]]]) -> None:
        """`process(requests)` returns one result per request, in order; if it raises, every request of that
        batch gets the error (none hangs) and the next batch is processed as usual."""
        self._process = process
        self._pending: list[tuple[Request, asyncio.Future[Result]]] = []
        self._flush_scheduled = False
        self._draining = False

    async def submit(self, request: Request) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._pending.append((request, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._start_drain)
        return await future

    def _start_drain(self) -> None:
        self._flush_scheduled = False
        if not self._draining:  # a running drain picks the new requests up when its batch is done
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._process([request for request, _ in batch])
                except Exception as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # a session may have been cancelled while it waited
                        future.set_result(result)
        finally:
            self._draining = False
