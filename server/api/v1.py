"""What every `/v1/` route shares (docs/protocol.md, "HTTP API (v1)"): the access token, as `Authorization: Bearer T`
or `?token=T`; refusals as HTTP 4xx with `{"error": {"code", "message"}}`; JSON request bodies, bounded in size.

A handler raises ProtocolError (the session protocol's codes plus not_found, bad_output, unauthorized) and the
middleware answers it; a body over the size limit, an unknown /v1/ path and a missing token are answered the same
way, so a client only ever reads one error shape.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.api.auth import bearer_or_query_token, token_ok
from server.api.messages import json_object
from server.metrics import Metrics
from server.pipeline.errors import ProtocolError

PREFIX = "/v1/"
# HTTP status of each code; every other code (bad_json, bad_message, bad_output, unknown_avatar, ...) is 400.
STATUS = {"unauthorized": 401, "not_found": 404, "too_large": 413, "busy": 503}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(code: str, message: str) -> web.Response:
    response = web.json_response({"error": {"code": code, "message": message}}, status=STATUS.get(code, 400))
    if code == "unauthorized":
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def middleware(token: str | None, metrics: Metrics) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The token check and the error shape for every /v1/ route (other paths pass through untouched); refusals
    are counted by code in /metrics like the websocket's."""

    def refuse(code: str, message: str) -> web.Response:
        metrics.errors.labels(code).inc()
        return error_response(code, message)

    @web.middleware
    async def v1(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(PREFIX):
            return await handler(request)
        if not token_ok(token, bearer_or_query_token(request)):
            return refuse("unauthorized", "missing or wrong access token (Authorization: Bearer T or ?token=T)")
        try:
            return await handler(request)
        except ProtocolError as error:
            return refuse(error.code, error.message)
        except web.HTTPRequestEntityTooLarge as error:
            return refuse("too_large", error.text or "request body too large")
        except web.HTTPNotFound:
            return refuse("not_found", f"no such resource: {request.path[:200]}")

    return v1


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (an empty body is an empty object), or ProtocolError bad_json/bad_message;
    a body over the app's `client_max_size` is too_large."""
    raw = await request.read()
    return json_object(raw) if raw.strip() else {}
