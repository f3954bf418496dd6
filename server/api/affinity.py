"""Which session a request belongs to, so that every request about a session reaches the process (and, behind a
load balancer, the node) that holds it.

A session lives in one worker process of one node. The response that opens it carries its id in the
`X-Session-ID` header (the session websocket's 101 answer, the 201 of an HTTP route that opens one); every later
request that names the id is routed to the owner: by the routing front between a node's workers
(server/scale/front.py) and by HAProxy's stick table between nodes (deploy/haproxy.cfg, which mirrors the rules
here). A request names a session by, in this order:

| where | how |
| --- | --- |
| header | `X-Session-ID: <id>` (any route; what a client behind a load balancer should send) |
| path | `/v1/broadcasts/<id>[/...]`, `/v1/sessions/<id>[/...]` |
| query | `?broadcast=<id>` (`/ws?broadcast=<id>`), `?sessionid=<id>`, `?session_id=<id>` |
| body | a JSON object's `sessionid` or `session_id` (the LiveTalking-compatible routes) |

Requests that name no session open one or need none; they go to the worker (node) with the most headroom.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from server.sessions import opened_here

SESSION_HEADER = "X-Session-ID"
SESSION_PATHS = ("/v1/broadcasts/", "/v1/sessions/")
SESSION_PARAMS = ("broadcast", "sessionid", "session_id")
SESSION_FIELDS = ("sessionid", "session_id")
# Requests that open a session when they name none: the routing front counts them against a worker's headroom
# until the worker has reported them.
OPENING = frozenset({("GET", "/ws"), ("POST", "/v1/broadcasts"), ("POST", "/offer"), ("POST", "/whep")})
# The largest body the front reads to look for a session id in it (larger bodies are streamed through).
MAX_ROUTED_BODY = 64 * 1024


def named_in_head(path: str, query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The session a request names in its header, path or query string, or None."""
    if headers.get(SESSION_HEADER):
        return headers[SESSION_HEADER]
    for prefix in SESSION_PATHS:
        if path.startswith(prefix):
            return path[len(prefix):].split("/", 1)[0] or None
    return next((query[name] for name in SESSION_PARAMS if query.get(name)), None)


def named_in_body(content_type: str, body: bytes) -> str | None:
    """The session a JSON body names (`sessionid` / `session_id`), or None; a body that is no JSON object names none."""
    if content_type != "application/json" or not body:
        return None
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    value = next((data[name] for name in SESSION_FIELDS if data.get(name) not in (None, "")), None)
    return None if value is None or isinstance(value, (dict, list)) else str(value)


def opens_session(method: str, path: str) -> bool:
    """A request that opens a session when it names none."""
    return (method, path) in OPENING


@web.middleware
async def session_header(request: web.Request, handler: Any) -> web.StreamResponse:
    """Put the id of a session opened by this request into the response's X-Session-ID header. Routes whose
    response is already sent when the session opens (the websocket) set the header themselves."""
    token = opened_here.set([])
    try:
        response = await handler(request)
        opened = opened_here.get()
    finally:
        opened_here.reset(token)
    if opened and not response.prepared:
        response.headers[SESSION_HEADER] = opened[-1]
    return response


@web.middleware
async def forwarded_client(request: web.Request, handler: Any) -> web.StreamResponse:
    """Behind the node's routing front (a worker on its Unix socket), the client is the one the front names in
    X-Forwarded-For: logs and limits see the client, not the socket. Only for a worker: nobody else can reach it."""
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        request = request.clone(remote=forwarded.rsplit(",", 1)[-1].strip())
    return await handler(request)
