"""The access token (`--token` / AVATAR_TOKEN), compared in constant time. The websocket and /metrics take it as
`?token=...` (browsers cannot set headers on a websocket) and refuse with 401 before any upgrade; the /v1/ API
also takes it as `Authorization: Bearer ...` (server/api/v1.py)."""
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


def bearer_or_query_token(request: web.Request) -> str:
    """The token a request carries: its bearer token, else its `?token=`."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.query.get("token", "")
