"""A local OpenAI-compatible chat-completions endpoint that streams scripted answers, for the tests and the
benchmark of the LLM bridge: server-sent events with a role chunk, content deltas, a finish chunk and `[DONE]`,
paced at a chosen rate, with the failures real servers have (an HTTP error, an error object mid-stream, a slow
first token, a stream cut short). It records every request and notices every client that goes away mid-answer.

    async with FakeLlm() as llm:
        llm.script(Answer("Hello there. How are you?", tokens_per_s=50))
        ... --llm-url llm.url ...
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# Answers are cut into pieces of at most four characters (with their leading space), about a BPE token each.
_TOKEN = re.compile(r"\s*\S{1,4}")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class Answer:
    """How the endpoint answers one request."""

    text: str = "Hello! I am a scripted answer."
    tokens_per_s: float = 50.0
    first_token_delay_s: float = 0.0  # before the first content token (the role chunk goes out at once)
    error_after_tokens: int | None = None  # then `error_line` instead of the rest
    error_line: str = 'data: {"error": {"message": "scripted failure mid-stream", "type": "server_error"}}'
    http_status: int = 200  # anything else: that status with an OpenAI-style error body, no stream
    endless: bool = False  # repeat the text until the client goes away
    done: bool = True  # end with [DONE] (False: the stream just stops after the finish chunk)
    finish: bool = True  # send the finish_reason chunk (False and done=False: a stream cut short)
    stream: bool = True  # False: the whole answer as one JSON completion, as a server that ignores `stream` does


@dataclass
class Served:
    """What happened to one request."""

    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float  # time.monotonic()
    token_times: list[float] = field(default_factory=list)
    disconnected_at: float | None = None
    completed: bool = False


class FakeLlm:
    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._scripts: deque[Answer] = deque()
        self.default = Answer()
        self.served: list[Served] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL to pass as --llm-url (the endpoint is its /chat/completions)."""
        assert self._runner is not None
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"

    def script(self, *answers: Answer) -> None:
        """The answers to the next requests, in order; after them the default answer."""
        self._scripts.extend(answers)

    async def __aenter__(self) -> FakeLlm:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def wait(self, predicate, timeout: float = 10.0) -> None:
        """Until `predicate(served)` holds."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.served))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        served = Served(await request.json(), dict(request.headers), time.monotonic())
        self.served.append(served)
        await self._notify()
        answer = self._scripts.popleft() if self._scripts else self.default
        if answer.http_status != 200:
            error = {"error": {"message": f"scripted failure {answer.http_status}", "type": "server_error"}}
            return web.json_response(error, status=answer.http_status)
        if not answer.stream:
            served.completed = True
            message = {"role": "assistant", "content": answer.text}
            return web.json_response({"object": "chat.completion", "choices": [{"index": 0, "message": message}]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            await self._stream(response, served, answer)
        except (ConnectionError, asyncio.CancelledError):
            served.disconnected_at = time.monotonic()
            await self._notify()
            raise
        served.completed = True
        await self._notify()
        return response

    async def _stream(self, response: web.StreamResponse, served: Served, answer: Answer) -> None:
        model = served.body.get("model", "fake")

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        await asyncio.sleep(answer.first_token_delay_s)
        pieces = tokens(answer.text)
        interval = 1.0 / answer.tokens_per_s
        start = time.monotonic()
        count = 0
        while True:
            for piece in pieces:
                if answer.error_after_tokens is not None and count >= answer.error_after_tokens:
                    await response.write(f"{answer.error_line}\n\n".encode())
                    return
                await asyncio.sleep(max(0.0, start + count * interval - time.monotonic()))
                await send({"content": piece})
                served.token_times.append(time.monotonic())
                count += 1
            if not answer.endless:
                break
        if answer.finish:
            await send({}, finish="stop")
        if answer.done:
            await response.write(b"data: [DONE]\n\n")
