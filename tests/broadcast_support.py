"""Helpers for the broadcast tests: the /v1 API over aiohttp, against the `server` fixture's port."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from server.api.broadcast import Broadcast
from server.app import AvatarServer

SENTENCE = "Hello there! One, two, three: the quick brown fox jumps over the lazy dog, and then it rests."


class Api:
    """The broadcast API of one server, as a client sees it."""

    def __init__(self, server: AvatarServer, http: aiohttp.ClientSession, token: str | None = None) -> None:
        self.server = server
        self.base = f"http://127.0.0.1:{server.port}"
        self.http = http
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """(status, JSON body or text or None) of one request."""
        headers = {**self._headers, **kwargs.pop("headers", {})}
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            text = await response.text()
            return response.status, text or None

    async def create(self, outputs: list[dict], **fields: Any) -> str:
        status, body = await self.call("POST", "/v1/broadcasts", json={"outputs": outputs, **fields})
        assert status == 201, body
        return body["id"]

    async def describe(self, broadcast_id: str) -> dict:
        status, body = await self.call("GET", f"/v1/broadcasts/{broadcast_id}")
        assert status == 200, body
        return body

    async def say(self, broadcast_id: str, text: str = SENTENCE) -> None:
        status, body = await self.call("POST", f"/v1/broadcasts/{broadcast_id}/say", json={"text": text})
        assert status == 202, body

    async def delete(self, broadcast_id: str) -> None:
        status, body = await self.call("DELETE", f"/v1/broadcasts/{broadcast_id}")
        assert status == 204, body

    async def wait_for_state(self, broadcast_id: str, state: str, output: int = 0, timeout: float = 20.0) -> dict:
        """The output's status once it is in `state`."""
        deadline = time.monotonic() + timeout
        while True:
            status = (await self.describe(broadcast_id))["outputs"][output]
            if status["state"] == state:
                return status
            assert time.monotonic() < deadline, f"output {output} still {status['state']}, not {state}: {status}"
            await asyncio.sleep(0.1)

    def broadcast(self, broadcast_id: str) -> Broadcast:
        """The server-side object (the tests run the server in their own process)."""
        return self.server.services.sessions[broadcast_id]

    async def wait_until_speech_ended(self, broadcast_id: str, timeout: float = 20.0) -> None:
        """Until the broadcast has spoken and gone quiet."""
        deadline = time.monotonic() + timeout
        spoke = False
        while True:
            speaking = (await self.describe(broadcast_id))["speaking"]
            spoke = spoke or speaking
            if spoke and not speaking:
                return
            assert time.monotonic() < deadline, "the broadcast never finished speaking"
            await asyncio.sleep(0.1)
