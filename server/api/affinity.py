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
| path | `/v1/broadcasts/<id>[/...]` (a broadcast, its WHEP viewers), `/whep/<id>` (a LiveTalking WHEP session) |
| query | `?broadcast=<id>` (`/ws?broadcast=<id>`), `?sessionid=<id>`, `?session_id=<id>` |
| body | a JSON object's `sessionid` or `session_id`, a multipart form's `sessionid` field (the LiveTalking routes) |

Requests that name no session open one or need none; they go to the worker (node) with the most headroom.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

from aiohttp import web

from server.sessions import opened_here

SESSION_HEADER = "X-Session-ID"
SESSION_PATHS = ("/v1/broadcasts/", "/whep/")
SESSION_PARAMS = ("broadcast", "sessionid", "session_id")
SESSION_FIELDS = ("sessionid", "session_id")
# Requests that open a session when they name none: the routing front counts them against a worker's headroom
# until the worker has reported them.
OPENING = frozenset({("GET", "/ws"), ("POST", "/v1/broadcasts"), ("POST", "/offer"), ("POST", "/whep")})
JSON = "application/json"
FORM = "multipart/form-data"
# The largest JSON body the front reads to look for a session id in it (larger bodies are streamed through; forms,
# which carry uploads, are read up to the upload limit).
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
    """The session a request body names, or None: a JSON object's `sessionid` / `session_id`, or a multipart form's
    `sessionid` field (`content_type` is the whole header: a form's boundary is in it). A body that is neither, or
    is malformed, names none (the worker then answers the request's error)."""
    if not body:
        return None
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == JSON:
        return _named_in_json(body)
    if kind == FORM:
        return _named_in_form(content_type, body)
    return None


def _named_in_json(body: bytes) -> str | None:
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    value = next((data[name] for name in SESSION_FIELDS if data.get(name) not in (None, "")), None)
    return None if value is None or isinstance(value, (dict, list)) else str(value)


def _named_in_form(content_type: str, body: bytes) -> str | None:
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        return None
    for part in body.split(b"--" + boundary.encode("latin-1")):
        head, found, value = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        if not found:
            continue
        name = BytesHeaderParser().parsebytes(head).get_param("name", header="content-disposition")
        if name in SESSION_FIELDS:
            text = value.removesuffix(b"\r\n").decode("utf-8", "replace").strip()
            return text or None
    return None


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
