"""The HTTP API's common rules (docs/protocol.md, "HTTP API (v1)"): JSON in and out; every refusal an HTTP 4xx
with `{"error": {"code": ..., "message": ...}}`; the access token as `Authorization: Bearer T` or `?token=T`;
request bodies bounded before they are read.

Route modules add their handlers under /v1/ and refuse by raising ApiError or ProtocolError; the middleware gives
every other failure under /v1/ (no such route, wrong method, a body too large, an unexpected exception) the same
shape. A handler that takes larger bodies (an upload) says so with `@body_limit(bytes)` and reads with
`read_body`/`read_json`, which hold it to that limit.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.api.auth import token_ok
from server.pipeline.errors import ProtocolError, quote

log = logging.getLogger(__name__)
PREFIX = "/v1/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY_LIMIT = web.AppKey("v1_body_limit", int)
# Protocol codes that are not the client's message being wrong: their HTTP status.
_STATUS = {"unauthorized": 401, "not_found": 404, "too_large": 413, "exists": 409, "busy": 503}
_CODE_OF_STATUS = {401: "unauthorized", 404: "not_found", 405: "not_found", 413: "too_large"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def require_api_token(request: web.Request, expected: str | None) -> None:
    """`Authorization: Bearer T` or `?token=T`; ApiError 401 unauthorized otherwise."""
    header = request.headers.get("Authorization", "")
    given = header[len("Bearer "):] if header.startswith("Bearer ") else request.query.get("token", "")
    if not token_ok(expected, given):
        raise ApiError(401, "unauthorized", "missing or wrong access token (Authorization: Bearer T, or ?token=T)")


def body_limit(max_bytes: int) -> Callable[[Handler], Handler]:
    """Let a handler take bodies up to `max_bytes` instead of the server's --max-body-bytes."""

    def mark(handler: Handler) -> Handler:
        handler.max_body_bytes = max_bytes  # type: ignore[attr-defined]
        return handler

    return mark


def _limit(request: web.Request) -> int:
    return getattr(request.match_info.handler, "max_body_bytes", request.app[BODY_LIMIT])


async def read_body(request: web.Request) -> bytes:
    """The request body, refused with 413 too_large as soon as it passes the handler's limit (chunked bodies,
    which declare no length, included)."""
    limit = _limit(request)
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "too_large", f"request body over {limit} bytes")
    return bytes(body)


async def read_json(request: web.Request) -> Any:
    """The body as JSON: 400 bad_json when it is not."""
    body = await read_body(request)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {str(exc)[:80]}") from None


@web.middleware
async def v1_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        limit = _limit(request)
        if request.content_length is not None and request.content_length > limit:
            raise ApiError(413, "too_large", f"request body over {limit} bytes")
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except ProtocolError as exc:
        return error_response(_STATUS.get(exc.code, 400), exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        if exc.status == 405:
            allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
            message = f"{request.method} is not a method of {quote(request.path)} (allowed: {allowed})"
        elif exc.status == 404:
            message = f"no such route: {request.method} {quote(request.path)}"
        else:
            message = exc.text or exc.reason
        return error_response(exc.status, _CODE_OF_STATUS.get(exc.status, "bad_message"), message.strip())
    except Exception:  # a bug: logged in full, answered in the documented shape
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal", "the server failed on this request; its log says why")
