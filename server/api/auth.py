"""The access token (`--token` / AVATAR_TOKEN): compared in constant time; refused with 401 before any upgrade."""
from __future__ import annotations

import hmac

from aiohttp import web


def token_ok(expected: str | None, given: str) -> bool:
    if expected is None:
        return True
    return hmac.compare_digest(given.encode(), expected.encode())


def require_query_token(request: web.Request, expected: str | None) -> None:
    """`?token=...` (browsers cannot set headers on a websocket), or HTTP 401."""
    if not token_ok(expected, request.query.get("token", "")):
        raise web.HTTPUnauthorized(text="missing or wrong access token\n")
