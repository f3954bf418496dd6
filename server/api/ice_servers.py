"""GET /v1/ice-servers: what a client passes to its RTCPeerConnection before it makes its offer (docs/protocol.md,
"ICE servers"), behind the /v1/ token rule. Time-limited TURN credentials are made afresh for each request, under a random id."""
from __future__ import annotations

import secrets

from aiohttp import web

from server.services import Services


def ice_servers_route(services: Services) -> web.RouteDef:
    async def ice_servers(request: web.Request) -> web.Response:
        servers = services.ice_servers(f"client-{secrets.token_hex(6)}")
        body = {
            "iceServers": [server.as_json() for server in servers],
            "iceTransportPolicy": services.config.ice.ice_transport_policy,
        }
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    return web.get("/v1/ice-servers", ice_servers)
