"""The HTTP side of the one port (aiohttp): the browser page, /healthz, /metrics and the session websocket /ws.

A wrong or missing access token gets 401 before any websocket upgrade. Further route groups (the /v1 API, the
LiveTalking-compatible routes) come from their own modules, ahead of the page's catch-all route.
"""
from __future__ import annotations

import uuid
from pathlib import Path

from aiohttp import web

from server.api import broadcasts, v1
from server.api.addresses import TRUSTED_PROXIES, request_address, trusted_networks
from server.api.affinity import SESSION_HEADER, session_header
from server.api.auth import require_query_token
from server.api.avatars import AvatarRoutes
from server.api.ice_servers import ice_servers_route
from server.api.live_session import admit, refusal
from server.api.livetalking import LiveTalkingApi
from server.api.messages import encode
from server.api.ws_session import WsSession
from server.pipeline.errors import ProtocolError
from server.services import Services

SERVICES = web.AppKey("services", Services)
BUSY_CLOSE_CODE = 1013


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]


async def health(request: web.Request) -> web.Response:
    return web.json_response(services_of(request).health(), headers={"Cache-Control": "no-cache"})


async def metrics(request: web.Request) -> web.Response:
    services = services_of(request)
    require_query_token(request, services.config.token)
    body = services.metrics.render_text()
    return web.Response(body=body, headers={"Content-Type": services.metrics.content_type})


async def session_websocket(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    require_query_token(request, services.config.token)
    address = request_address(request)
    retry_s = services.addresses.connection_refusal(address)
    if retry_s is not None:
        services.metrics.errors.labels("rate_limited").inc()
        raise web.HTTPTooManyRequests(
            text=f"too many connections from {address}; retry in {retry_s:.0f} s\n",
            headers={"Retry-After": str(max(1, round(retry_s)))},
        )
    if "broadcast" in request.query:
        return await broadcasts.control_websocket(request, services)
    limits = services.config.limits
    ws = web.WebSocketResponse(max_msg_size=limits.ws_max_frame_bytes, heartbeat=limits.ws_heartbeat_s)
    session_id = uuid.uuid4().hex[:12]
    ws.headers[SESSION_HEADER] = session_id  # what a load balancer keeps the session's later requests to
    await ws.prepare(request)
    refused = refusal(services, address)
    if refused is not None:
        await ws.send_str(encode(ProtocolError("busy", refused).event()))
        await ws.close(code=BUSY_CLOSE_CODE, message=b"server full")
        return ws
    session = WsSession(request, ws, services, session_id)
    session.log.info("opened from %s", address)
    release = admit(services, session, address)
    try:
        await session.run()
    finally:
        release()
    return ws


def _static(root: Path):
    """Files of the browser page, never outside `root`; clients revalidate (ETag, Last-Modified) on every load,
    so a new page takes effect at once and an unchanged one costs a 304."""
    top = root.resolve()

    async def serve(request: web.Request) -> web.StreamResponse:
        relative = request.match_info.get("path") or "index.html"
        target = (top / relative).resolve()
        if top not in target.parents or not target.is_file():
            raise web.HTTPNotFound(text=f"not found: /{relative}\n")
        return web.FileResponse(target, headers={"Cache-Control": "no-cache"})

    return serve


def make_app(services: Services) -> web.Application:
    security = services.config.security
    app = web.Application(
        client_max_size=security.max_body_bytes,
        middlewares=[session_header, v1.middleware(services.config.token, services.metrics)],
    )
    app[SERVICES] = services
    app[TRUSTED_PROXIES] = trusted_networks(security.trusted_proxies)
    app.add_routes([
        web.get("/healthz", health),
        web.get("/metrics", metrics),
        web.get("/ws", session_websocket),
        ice_servers_route(services),
        *AvatarRoutes(services).routes(),
        *LiveTalkingApi(services).routes(),
    ])
    broadcasts.setup(app, services)
    page = _static(services.config.client_dir)  # last: it answers every GET no other route takes
    # never /v1/: an unknown API route is the API's not_found
    app.add_routes([web.get("/", page), web.get("/{path:(?!v1/).+}", page)])
    return app
