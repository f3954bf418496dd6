"""The routing front of a node with several workers: the one public port. Every HTTP request and websocket is
passed to a worker over its Unix socket: to the worker that holds the session the request names
(server/api/affinity.py), or, when it names none, to the worker with the most headroom. `/healthz` and
`/metrics` answer for the whole node.

Why a proxy and not a socket handed over to the worker: an HTTP/1.1 connection (a browser's, or a load
balancer's pooled one) carries requests for different sessions one after another, so the choice must be made
per request, which needs the request parsed; and a worker that dies leaves its clients' websockets to the front,
which ends them with a close code and a reason (1012, "reconnect") instead of a dropped connection. Media never
pass through here: each worker sends its WebRTC media from its own UDP ports. What the front relays are
signalling messages and HTTP bodies, a few per second per session.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from server.api.affinity import (
    FORM, JSON, MAX_ROUTED_BODY, SESSION_HEADER, named_in_body, named_in_head, opens_session,
)
from server.api.auth import require_query_token
from server.config import ServerConfig
from server.scale.metrics_merge import merge_expositions, node_metrics
from server.scale.supervisor import Supervisor, WorkerProcess

log = logging.getLogger(__name__)

# Hop-by-hop headers (RFC 9110 7.6.1) and those the two connections set for themselves.
_NOT_FORWARDED = frozenset(
    h.lower() for h in (
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
        "Expect", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol",
    )
)
WORKER_LOST_CLOSE = 1012  # "service restart": the session is gone, a new one can be opened at once
WORKER_LOST_REASON = b"the worker process holding this session ended; reconnect for a new session"

# The response headers of a websocket handshake to a worker (aiohttp keeps them private; its tracing hands them out).
_handshake: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("handshake", default=None)


async def _on_request_end(session: Any, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
    headers = _handshake.get()
    if headers is not None:
        headers.update(params.response.headers)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class Front:
    def __init__(self, config: ServerConfig, supervisor: Supervisor) -> None:
        self.config = config
        self.supervisor = supervisor
        self._clients: dict[int, aiohttp.ClientSession] = {}
        self.app = web.Application(client_max_size=max(MAX_ROUTED_BODY, config.livetalking.max_upload_bytes))
        self.app.add_routes([
            web.get("/healthz", self.health),
            web.get("/metrics", self.metrics),
            web.route("*", "/{path:.*}", self.route),
        ])
        self.app.on_cleanup.append(self._close_clients)

    def _client(self, worker: WorkerProcess) -> aiohttp.ClientSession:
        client = self._clients.get(worker.index)
        if client is None:
            tracing = aiohttp.TraceConfig()
            tracing.on_request_end.append(_on_request_end)
            client = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=worker.socket_path),
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                trace_configs=[tracing],
            )
            self._clients[worker.index] = client
        return client

    async def _close_clients(self, app: web.Application) -> None:
        await asyncio.gather(*(client.close() for client in self._clients.values()))

    async def health(self, request: web.Request) -> web.Response:
        """A worker's /healthz (engines, voices, avatars) with the node's sessions, limit and workers."""
        ready = [w for w in self.supervisor.workers if w.ready]
        body: dict[str, Any] = {"status": "unavailable"}
        if ready:
            with contextlib.suppress(aiohttp.ClientError, ValueError):
                async with self._client(ready[0]).get("http://worker/healthz") as response:
                    body = await response.json()
        all_ready = len(ready) == len(self.supervisor.workers)
        body.update(
            status=("ok" if all_ready else "degraded") if ready else "unavailable",
            sessions=self.supervisor.sessions,
            max_sessions=self.config.max_sessions,
            draining=self.supervisor.draining,
            workers=[w.describe() for w in self.supervisor.workers],
        )
        return web.json_response(body, status=200 if ready else 503, headers={"Cache-Control": "no-cache"})

    async def metrics(self, request: web.Request) -> web.Response:
        """Every worker's metrics added up (counters, gauges, histograms), and the node's own."""
        require_query_token(request, self.config.token)
        ready = [w for w in self.supervisor.workers if w.ready]

        async def scrape(worker: WorkerProcess) -> str:
            async with self._client(worker).get("http://worker/metrics", params=request.query) as response:
                return await response.text()

        texts = await asyncio.gather(*(scrape(w) for w in ready), return_exceptions=True)
        body = merge_expositions([t for t in texts if isinstance(t, str)]) + node_metrics(self.supervisor)
        return web.Response(text=body, content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def route(self, request: web.Request) -> web.StreamResponse:
        body: bytes | None = None
        session_id = named_in_head(request.path, request.query, request.headers)
        length = request.content_length
        if session_id is None and length and length <= self._routed_body_limit(request.content_type):
            body = await request.read()
            session_id = named_in_body(request.headers.get("Content-Type", ""), body)
        worker = self.supervisor.owner(session_id) if session_id else None
        if worker is None:
            worker = self.supervisor.pick(opening=session_id is None and opens_session(request.method, request.path))
        if worker is None:
            return _error(503, "unavailable", "no worker process of this server is ready; retry shortly")
        try:
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await self._relay_websocket(request, worker)
            return await self._forward(request, worker, body)
        except aiohttp.ClientError as exc:
            log.warning("worker %d did not answer %s %s: %s", worker.index, request.method, request.path, exc)
            return _error(502, "worker_failed", "the worker process handling this request failed; retry")

    def _routed_body_limit(self, content_type: str) -> int:
        """How much of a body naming no session in its head the front reads to find one in it (0: none)."""
        if content_type == JSON:
            return MAX_ROUTED_BODY
        if content_type == FORM:  # a /humanaudio upload names its session in a form field, before or after its file
            return self.config.livetalking.max_upload_bytes
        return 0

    def _headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
        if request.remote:
            forwarded = request.headers.get("X-Forwarded-For")
            headers["X-Forwarded-For"] = f"{forwarded}, {request.remote}" if forwarded else request.remote
        return headers

    async def _forward(self, request: web.Request, worker: WorkerProcess, body: bytes | None) -> web.StreamResponse:
        data: Any = body if body is not None else (request.content if request.body_exists else None)
        async with self._client(worker).request(
            request.method, f"http://worker{request.path_qs}", headers=self._headers(request), data=data,
            allow_redirects=False,
        ) as upstream:
            self._learn(upstream.headers, worker)
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in _NOT_FORWARDED:
                    response.headers.add(name, value)
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    def _learn(self, headers: Any, worker: WorkerProcess) -> None:
        session_id = headers.get(SESSION_HEADER)
        if session_id:
            self.supervisor.learn(session_id, worker)

    async def _relay_websocket(self, request: web.Request, worker: WorkerProcess) -> web.StreamResponse:
        limits = self.config.limits
        handshake: dict[str, str] = {}
        token = _handshake.set(handshake)
        try:
            upstream = await self._client(worker).ws_connect(
                f"http://worker{request.path_qs}", headers=self._headers(request),
                max_msg_size=limits.ws_max_frame_bytes,
            )
        except aiohttp.WSServerHandshakeError as refused:  # e.g. 401 for a wrong token: the client gets the same
            return web.Response(status=refused.status, text=f"{refused.message}\n")
        finally:
            _handshake.reset(token)
        ws = web.WebSocketResponse(max_msg_size=limits.ws_max_frame_bytes, heartbeat=limits.ws_heartbeat_s)
        self._learn(handshake, worker)
        if handshake.get(SESSION_HEADER):
            ws.headers[SESSION_HEADER] = handshake[SESSION_HEADER]
        await ws.prepare(request)
        await _relay(ws, upstream)
        return ws


async def _relay(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    """Messages both ways until either side closes; the other side is then closed with the same code, or with
    1012 when the worker went away without closing (its process ended)."""

    async def to_worker() -> None:
        async for message in client:
            if message.type == WSMsgType.TEXT:
                await upstream.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await upstream.send_bytes(message.data)

    async def to_client() -> tuple[int, bytes]:
        while True:
            message = await upstream.receive()
            if message.type == WSMsgType.TEXT:
                await client.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await client.send_bytes(message.data)
            elif message.type == WSMsgType.CLOSE:
                return message.data, (message.extra or "").encode()
            elif message.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
                return WORKER_LOST_CLOSE, WORKER_LOST_REASON

    inbound = asyncio.create_task(to_worker())
    outbound = asyncio.create_task(to_client())
    try:
        await asyncio.wait({inbound, outbound}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (inbound, outbound):
            task.cancel()
        await asyncio.gather(inbound, outbound, return_exceptions=True)
    if outbound.done() and not outbound.cancelled() and outbound.exception() is None:
        code, reason = outbound.result()
        await client.close(code=code, message=reason)
    await upstream.close(code=client.close_code or aiohttp.WSCloseCode.GOING_AWAY)
    await client.close()
