"""What every `/v1/` route shares (docs/protocol.md, "HTTP API (v1)"): the access token, as `Authorization: Bearer T`
or `?token=T`; refusals as HTTP 4xx with `{"error": {"code", "message"}}`; request bodies bounded in size.

A handler raises ProtocolError (the session protocol's codes plus not_found, bad_output, unauthorized, ...) and the
middleware answers it; a body over the size limit, an unknown /v1/ path or method, a missing token and an unexpected
failure are answered the same way, so a client only ever reads one error shape. Bodies are limited to the app's
`client_max_size` (`--max-body-bytes`); a handler that takes larger ones (an upload) says so with
`@body_limit(bytes)`; `read_json`, `read_body` and `read_form` hold a body to its handler's limit as it arrives.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from server.api.auth import bearer_or_query_token, token_ok
from server.api.messages import json_object
from server.metrics import Metrics
from server.pipeline.errors import ProtocolError, quote

log = logging.getLogger(__name__)
PREFIX = "/v1/"
# HTTP status of each code; every other code (bad_json, bad_message, bad_output, unknown_avatar, ...) is 400.
STATUS = {"unauthorized": 401, "forbidden": 403, "not_found": 404, "exists": 409, "too_large": 413, "busy": 503,
          "internal": 500}
_CODE_OF_STATUS = {404: "not_found", 405: "not_found", 413: "too_large"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(code: str, message: str, status: int | None = None) -> web.Response:
    """The documented refusal; its status is the code's unless given (405 keeps its own)."""
    response = web.json_response({"error": {"code": code, "message": message}}, status=status or STATUS.get(code, 400))
    if code == "unauthorized":
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def body_limit(max_bytes: int) -> Callable[[Handler], Handler]:
    """Let a handler take bodies up to `max_bytes` instead of the server's --max-body-bytes."""

    def mark(handler: Handler) -> Handler:
        handler.max_body_bytes = max_bytes  # type: ignore[attr-defined]
        return handler

    return mark


def _limit(request: web.Request) -> int:
    return getattr(request.match_info.handler, "max_body_bytes", request.client_max_size)


def middleware(token: str | None, metrics: Metrics) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The token check, the body limit and the error shape for every /v1/ route (other paths pass through
    untouched); refusals are counted by code in /metrics like the websocket's."""

    def refuse(code: str, message: str, status: int | None = None) -> web.Response:
        metrics.errors.labels(code).inc()
        return error_response(code, message, status)

    @web.middleware
    async def v1(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(PREFIX):
            return await handler(request)
        if not token_ok(token, bearer_or_query_token(request)):
            return refuse("unauthorized", "missing or wrong access token (Authorization: Bearer T or ?token=T)")
        try:
            limit = _limit(request)
            if request.content_length is not None and request.content_length > limit:
                raise ProtocolError("too_large", f"request body over {limit} bytes")
            return await handler(request)
        except ProtocolError as error:
            return refuse(error.code, error.message)
        except web.HTTPException as error:
            if error.status < 400 or error.content_type == "application/json":
                raise
            return refuse(_CODE_OF_STATUS.get(error.status, "bad_message"), _message(request, error), error.status)
        except Exception:  # a bug: logged in full, answered in the documented shape
            log.exception("%s %s failed", request.method, request.path)
            return refuse("internal", "the server failed on this request; its log says why")

    return v1


def _message(request: web.Request, error: web.HTTPException) -> str:
    if error.status == 405:
        allowed = ", ".join(sorted(getattr(error, "allowed_methods", ()) or ()))
        return f"{request.method} is not a method of {quote(request.path)} (allowed: {allowed})"
    if error.status == 404:
        return f"no such resource: {request.method} {quote(request.path)}"
    if error.status == 413:
        return f"request body over {_limit(request)} bytes"
    return (error.text or error.reason).strip()


async def read_body(request: web.Request) -> bytes:
    """The request body, refused with too_large as soon as it passes the handler's limit (chunked bodies, which
    declare no length, included)."""
    limit = _limit(request)
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise ProtocolError("too_large", f"request body over {limit} bytes")
    return bytes(body)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (an empty body is an empty object), or ProtocolError bad_json/bad_message
    (too_large past the handler's limit)."""
    raw = await read_body(request)
    return json_object(raw) if raw.strip() else {}


async def read_form(
    request: web.Request, files: tuple[str, ...], usage: str, limit: int | None = None
) -> dict[str, str | bytes]:
    """A multipart form, all of it bounded by `limit` bytes (default: the handler's limit; too_large as soon as it
    passes, chunked bodies included): the parts named in `files` as bytes, the other fields as text. `usage` says
    what to send, for bad_message."""
    limit = _limit(request) if limit is None else limit
    if request.content_length is not None and request.content_length > limit:
        raise ProtocolError("too_large", f"uploads are limited to {limit} bytes")
    try:
        return await _parts(await request.multipart(), files, limit)
    except (ValueError, AssertionError, KeyError, HttpProcessingError):  # not multipart, no boundary, bad headers
        raise ProtocolError("bad_message", f"send multipart/form-data with {usage}") from None


async def _parts(reader: MultipartReader, files: tuple[str, ...], limit: int) -> dict[str, str | bytes]:
    fields: dict[str, str | bytes] = {}
    total = 0
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            continue
        data = bytearray()
        while chunk := await part.read_chunk():
            total += len(chunk)
            if total > limit:
                raise ProtocolError("too_large", f"uploads are limited to {limit} bytes")
            data += chunk
        if part.name in files:
            fields[part.name] = bytes(data)
        elif part.name:
            fields[part.name] = data.decode("utf-8", errors="replace")
    return fields
