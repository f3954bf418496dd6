"""Which address a request comes from: the peer's, or behind a trusted reverse proxy the one the proxy saw."""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# The app's --trusted-proxy networks (set by make_app).
TRUSTED_PROXIES = web.AppKey("trusted_proxies", list)


def trusted_networks(entries: Sequence[str]) -> list[Network]:
    """--trusted-proxy entries (addresses or networks) as networks; ValueError for one that is neither."""
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: web.BaseRequest, trusted: Sequence[Network]) -> str:
    """The peer's address; when the peer is a trusted proxy, the last address of X-Forwarded-For (all of its
    headers, in order) that is not itself a trusted proxy. What lies left of that was written by the client and is
    never believed; a value that is not an address gives the peer's."""
    peer = request.remote or "unknown"
    if not _within(peer, trusted):
        return peer
    hops = [hop.strip() for value in request.headers.getall("X-Forwarded-For", ()) for hop in value.split(",")]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def request_address(request: web.Request) -> str:
    """client_address with the app's trusted proxies: what the per-address limits count."""
    return client_address(request, request.app[TRUSTED_PROXIES])
