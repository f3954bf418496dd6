"""Janus's own HTTP API (the "REST" transport of the Janus WebRTC server): a session, plugin handles on it,
requests matched to their answers by transaction, events by long poll, and keep-alives.

A request is a POST of a JSON object; Janus answers `success` (done), `ack` (a plugin works on it: the answer comes
later as an `event` with the same transaction, through the long poll) or `error`. The long poll (`GET` on the
session) also brings the events nobody asked for: `webrtcup`, `media`, `hangup`, `detached`, `timeout` and the
plugin's own. A session whose long poll fails (Janus went away) or that Janus reports gone is lost: every request
still waiting fails, and every handle's `ended` says why.

Used by the Janus output to publish, and by the tests and benchmarks to subscribe (harness/janus.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any

import aiohttp

from server.transports.webrtc.http_body import read_at_most

# Janus keeps a long poll open this long at most before it answers with a keep-alive (janus.transport.http).
LONG_POLL_S = 30.0
# Events one long poll may bring at once.
MAX_EVENTS = 10
# Largest answer read from Janus: its answers are small JSON objects with at most an SDP inside.
MAX_ANSWER_BYTES = 1 << 20


class JanusError(Exception):
    """Janus refused a request: `code` is Janus's (core codes 4xx, e.g. 403 unauthorized, 458 no such session) or,
    when `plugin` is set, the plugin's (VideoRoom: 426 no such room, 433 unauthorized, ...). `http_status`: the
    HTTP status of an answer that was not Janus's JSON at all (a wrong URL, a proxy's error page)."""

    def __init__(
        self, code: int | None, reason: str, plugin: str | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(f"{plugin or 'Janus'} error {code}: {reason}" if code is not None else reason)
        self.code = code
        self.reason = reason
        self.plugin = plugin
        self.http_status = http_status


class JanusSession:
    """One Janus session over HTTP: `create`, `attach` plugin handles, `destroy`. Keeps itself alive."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        *,
        request_timeout_s: float,
        keepalive_s: float,
        log: logging.LoggerAdapter | logging.Logger,
        apisecret: str | None = None,
        token: str | None = None,
    ) -> None:
        self._http = http
        self._url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._keepalive_s = keepalive_s
        self._log = log
        self._credentials = {k: v for k, v in (("apisecret", apisecret), ("token", token)) if v is not None}
        self.id: int | None = None
        self._pending: dict[str, asyncio.Future[dict]] = {}
        self._handles: dict[int, JanusHandle] = {}
        self._tasks: list[asyncio.Task] = []
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def create(self) -> None:
        answer = await self._post(self._url, {"janus": "create"})
        self.id = int(answer["data"]["id"])
        self._tasks = [asyncio.create_task(self._poll()), asyncio.create_task(self._keep_alive())]

    async def attach(self, plugin: str) -> JanusHandle:
        answer = await self.request({"janus": "attach", "plugin": plugin})
        handle = JanusHandle(self, int(answer["data"]["id"]))
        self._handles[handle.id] = handle
        return handle

    async def request(self, body: dict[str, Any], handle: int | None = None) -> dict:
        """A request on the session (or one of its handles): Janus's answer, the later `event` for an `ack`."""
        if self.lost.done():
            raise JanusError(None, f"the Janus session is lost: {self.lost.result()}")
        url = f"{self._url}/{self.id}" + (f"/{handle}" if handle is not None else "")
        transaction = secrets.token_hex(8)
        later = self._pending[transaction] = asyncio.get_running_loop().create_future()
        try:
            answer = await self._post(url, body, transaction)
            if answer.get("janus") != "ack":
                return answer
            async with asyncio.timeout(self._timeout.total):
                return await later
        finally:
            self._pending.pop(transaction, None)

    async def destroy(self) -> None:
        """End the session on Janus (every handle detached with it) and stop polling; quiet when Janus is gone."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.id is not None and not self.lost.done():
            with contextlib.suppress(JanusError, aiohttp.ClientError, TimeoutError):
                await self._post(f"{self._url}/{self.id}", {"janus": "destroy"})
        self._lose("destroyed")

    async def _post(self, url: str, body: dict[str, Any], transaction: str | None = None) -> dict:
        message = {**body, **self._credentials, "transaction": transaction or secrets.token_hex(8)}
        async with self._http.post(url, json=message, timeout=self._timeout) as response:
            answer = await _json(response)
        if answer.get("janus") == "error":
            error = answer.get("error") or {}
            raise JanusError(error.get("code"), str(error.get("reason", "unknown error")))
        return answer

    async def _poll(self) -> None:
        """Long-poll the session's events until it is lost or destroyed."""
        url = f"{self._url}/{self.id}"
        timeout = aiohttp.ClientTimeout(total=LONG_POLL_S + self._timeout.total)
        try:
            while True:
                params = {"maxev": str(MAX_EVENTS), **self._credentials}
                async with self._http.get(url, params=params, timeout=timeout) as response:
                    events = await _json(response)
                for event in events if isinstance(events, list) else [events]:
                    self._dispatch(event)
                if self.lost.done():
                    return
        except (JanusError, aiohttp.ClientError, TimeoutError) as exc:
            self._lose(f"Janus's long poll failed: {exc or type(exc).__name__}")

    def _dispatch(self, event: dict) -> None:
        kind = event.get("janus")
        waiting = self._pending.get(event.get("transaction") or "")
        if kind == "event" and waiting is not None and not waiting.done():
            waiting.set_result(event)
            return
        if kind == "error":  # the long poll itself was refused: 458 no such session, 403 unauthorized, ...
            error = event.get("error") or {}
            self._lose(f"Janus error {error.get('code')}: {error.get('reason', 'unknown error')}")
        elif kind == "timeout":
            self._lose("Janus timed the session out")
        handle = self._handles.get(event.get("sender") or 0)
        if handle is not None:
            handle.observe(event)

    async def _keep_alive(self) -> None:
        while not self.lost.done():
            await asyncio.sleep(self._keepalive_s)
            try:
                await self._post(f"{self._url}/{self.id}", {"janus": "keepalive"})
            except JanusError as exc:
                self._lose(f"Janus refused the keep-alive: {exc}")
                return
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._log.warning("janus keep-alive failed: %s", exc or type(exc).__name__)

    def _lose(self, reason: str) -> None:
        if self.lost.done():
            return
        self.lost.set_result(reason)
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_exception(JanusError(None, f"the Janus session is lost: {reason}"))
        for handle in self._handles.values():
            handle.end(reason)


class JanusHandle:
    """One plugin handle: its requests (`message`), and `ended` once Janus hangs its PeerConnection up, detaches
    it, or loses the session."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def message(self, body: dict[str, Any], jsep: dict[str, str] | None = None) -> tuple[dict, dict | None]:
        """A plugin request: the plugin's answer data and the JSEP (SDP) it came with, or JanusError."""
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        answer = await self.session.request(request, self.id)
        plugindata = answer.get("plugindata") or {}
        data = plugindata.get("data") or {}
        if "error_code" in data or "error" in data:
            raise JanusError(data.get("error_code"), str(data.get("error", "unknown error")), plugindata.get("plugin"))
        return data, answer.get("jsep")

    async def detach(self) -> None:
        """Leave the plugin (the VideoRoom removes a publisher's feed); quiet when Janus is gone."""
        if not self.ended.done() and not self.session.lost.done():
            with contextlib.suppress(JanusError, aiohttp.ClientError, TimeoutError):
                await self.session.request({"janus": "detach"}, self.id)
        self.end("detached")

    def observe(self, event: dict) -> None:
        kind = event.get("janus")
        if kind == "hangup":
            self.end(f"Janus hung the PeerConnection up: {event.get('reason', 'no reason given')}")
        elif kind == "detached":
            self.end("Janus detached the handle")
        elif kind == "event" and ((event.get("plugindata") or {}).get("data") or {}).get("videoroom") == "destroyed":
            self.end("the room was destroyed")

    def end(self, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)


async def _json(response: aiohttp.ClientResponse) -> Any:
    """The JSON body of a Janus answer; JanusError with the HTTP status for anything else (a proxy's error page, a
    URL that is not Janus's API)."""
    where = response.url.with_query(None)
    if response.status != 200:
        raise JanusError(None, f"HTTP {response.status} {response.reason} from {where}", http_status=response.status)
    body = await read_at_most(response, MAX_ANSWER_BYTES)
    try:
        if body is None:
            raise ValueError(f"more than {MAX_ANSWER_BYTES} bytes")
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JanusError(None, f"not an answer of Janus's API from {where}: {exc}", http_status=200) from None
