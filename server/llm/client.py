"""A streaming client of OpenAI's chat-completions API, as vLLM, Ollama, llama.cpp's server and the cloud APIs
offer it: the request goes out with `stream: true`, and every content delta of the answer is handed over the
moment its server-sent event arrives, so speech can start on the answer's first phrase.

Whatever goes wrong upstream (no connection, an HTTP error, an error object or garbage in the stream, an answer
that starts too late or stalls) is one `LlmError` with a sentence that says what. Cancelling `stream` closes
the upstream connection: the LLM server sees the client go away and stops generating.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from server.config import LlmSettings
from server.pipeline.errors import quote

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}
_ERROR_BODY_BYTES = 4096


class LlmError(Exception):
    """The LLM did not give a (complete) answer; the message says why, for the `llm_failed` event."""


def completions_url(url: str) -> str:
    """`--llm-url` may be the API's base (http://host:8000/v1) or its chat-completions endpoint itself."""
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


class LlmClient:
    """One per process: its HTTP connection pool is shared by every session's conversation."""

    def __init__(self, settings: LlmSettings, api_key: str | None) -> None:
        assert settings.llm_url is not None
        self.settings = settings
        self.url = completions_url(settings.llm_url)
        self._headers = {"Accept": "text/event-stream"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._http: aiohttp.ClientSession | None = None

    @property
    def model(self) -> str:
        return self.settings.llm_model

    async def stream(self, messages: list[Message], on_delta: Callable[[str], None]) -> str:
        """Ask for the answer to `messages`; `on_delta(text)` runs for every piece of it as it arrives (it must not
        block; an exception it raises ends the request). Returns the whole answer, or raises LlmError.

        The answer's first words (its content or, for reasoning models, its reasoning) must come within
        llm_first_token_timeout_s of the request, connecting included; after that no gap between two pieces may
        pass llm_stall_timeout_s."""
        settings = self.settings
        loop = asyncio.get_running_loop()
        parts: list[str] = []
        started = False
        try:
            async with asyncio.timeout(settings.llm_first_token_timeout_s) as deadline:
                async with self._session().post(self.url, json=self._body(messages), headers=self._headers) as response:
                    try:
                        if response.status != 200:
                            raise LlmError(f"the LLM answered HTTP {response.status}: {await _error_text(response)}")
                        if response.content_type == "application/json":  # a server that does not stream
                            text = _whole_answer(await response.json())
                            on_delta(text)
                            return text
                        finished = False
                        async for data in _sse_data(response.content):
                            if data.strip() == "[DONE]":
                                return "".join(parts)
                            delta, alive, finished = _chunk(data)
                            if delta:
                                parts.append(delta)
                                on_delta(delta)
                            if alive:
                                started = True
                                deadline.reschedule(loop.time() + settings.llm_stall_timeout_s)
                        if finished:  # a server that ends the stream without [DONE]
                            return "".join(parts)
                        raise LlmError("the LLM's stream ended before the answer was complete")
                    except BaseException:
                        response.close()  # never leave the upstream generating for nobody
                        raise
        except TimeoutError:
            if started:
                raise LlmError(f"the LLM's answer stalled for {settings.llm_stall_timeout_s:g} s") from None
            raise LlmError(f"the LLM did not start answering within {settings.llm_first_token_timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise LlmError(f"could not talk to the LLM at {self.url}: {exc or type(exc).__name__}") from None

    def _body(self, messages: list[Message]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.settings.llm_model, "messages": messages, "stream": True}
        if self.settings.llm_max_tokens is not None:
            body["max_tokens"] = self.settings.llm_max_tokens
        if self.settings.llm_temperature is not None:
            body["temperature"] = self.settings.llm_temperature
        return body

    def _session(self) -> aiohttp.ClientSession:
        """Opened on first use, on the running event loop; read timeouts are ours (see `stream`)."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


async def _sse_data(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    """The data of each server-sent event of a stream (its other fields and comments are ignored)."""
    data: list[str] = []
    async for raw in content:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _chunk(data: str) -> tuple[str, bool, bool]:
    """One streamed chunk: (content delta, whether it carried any text at all, whether the choice finished)."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise LlmError(f"the LLM sent something that is not JSON: {quote(data)}") from None
    if not isinstance(obj, dict):
        raise LlmError(f"the LLM sent something that is not a chunk: {quote(data)}")
    if "error" in obj or obj.get("object") == "error":
        raise LlmError(f"the LLM failed mid-answer: {_error_message(obj)}")
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "", False, False  # e.g. a usage-only chunk
    choice = choices[0]
    delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
    content = delta.get("content") if isinstance(delta.get("content"), str) else ""
    reasoning = any(isinstance(delta.get(k), str) and delta[k] for k in ("reasoning_content", "reasoning"))
    return content, bool(content) or reasoning, choice.get("finish_reason") is not None


def _whole_answer(obj: Any) -> str:
    try:
        content = obj["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LlmError(f"the LLM's answer has no choices[0].message.content: {quote(json.dumps(obj))}") from None
    if not isinstance(content, str):
        raise LlmError("the LLM's answer has no text")
    return content


def _error_message(obj: dict[str, Any]) -> str:
    """The message of an OpenAI-style error object ({"error": {"message": ...}} or {"object": "error", ...})."""
    error = obj.get("error", obj)
    if isinstance(error, dict):
        error = error.get("message") or error
    return quote(error if isinstance(error, str) else json.dumps(error), 200)


async def _error_text(response: aiohttp.ClientResponse) -> str:
    body = (await response.content.read(_ERROR_BODY_BYTES)).decode("utf-8", errors="replace")
    try:
        return _error_message(json.loads(body))
    except (ValueError, AttributeError):
        return quote(body.strip() or response.reason or "no details", 200)
