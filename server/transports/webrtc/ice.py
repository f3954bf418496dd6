"""ICE for the server's own peers: which host addresses they offer as candidates, and the STUN / TURN servers a
publishing peer (WHIP, Janus) gathers its server-reflexive and relayed candidates from."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.rtcicetransport import parse_stun_turn_uri

from server.pipeline.errors import ProtocolError, quote

# (scheme, transport) of the ICE server URLs aiortc gathers candidates from; it ignores the others (stuns:, TURN/TLS
# over UDP) without a word, so they are refused up front.
USABLE_SERVERS = {("stun", None), ("turn", "udp"), ("turn", "tcp"), ("turns", "tcp")}


def restrict_ice_hosts(hosts: Sequence[str]) -> None:
    """Offer exactly these host addresses as ICE candidates.

    aioice gathers every interface address except loopback, so on a machine that only has loopback (or in tests
    that must stay on it) ICE could never connect. It has no setting for this; its address lookup is replaced.
    """
    addresses = list(hosts)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
        a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)
    ]


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server, in the shape of the browser's RTCIceServer (and of GET /v1/ice-servers)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True)
class IceConfig:
    """The ICE servers of a peer that makes its own offer, and whether it may use relayed candidates only."""

    servers: tuple[IceServer, ...] = ()
    relay_only: bool = False

    def rtc_configuration(self) -> RTCConfiguration:
        """One transport for audio and video (max-bundle), as WHIP (RFC 9725) and Janus expect of a publisher."""
        return RTCConfiguration(
            iceServers=[RTCIceServer(list(s.urls), s.username, s.credential) for s in self.servers],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL,
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )


def parse_ice_servers(value: Any, field: str) -> tuple[IceServer, ...]:
    """The `iceServers` list of a request (RTCIceServer objects: `urls`, optional `username`, `credential`), or
    ProtocolError bad_output naming what is wrong. URLs are those aiortc can use: stun:, turn: (udp or tcp) and
    turns:."""

    def refuse(why: str) -> ProtocolError:
        return ProtocolError("bad_output", f"'{field}' {why}")

    if not isinstance(value, list):
        raise refuse('must be a list of {"urls": [...], "username"?, "credential"?} objects')
    servers = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or "urls" not in entry:
            raise refuse(f"entry {i} must be an object with 'urls'")
        unknown = sorted(set(entry) - {"urls", "username", "credential"})
        if unknown:
            raise refuse(f"entry {i} has unknown fields: {', '.join(map(quote, unknown))}")
        urls = [entry["urls"]] if isinstance(entry["urls"], str) else entry["urls"]
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise refuse(f"entry {i}: 'urls' must be a URL or a non-empty list of URLs")
        for url in urls:
            try:
                parsed = parse_stun_turn_uri(url)
            except ValueError:
                parsed = None
            if parsed is None or (parsed["scheme"], parsed.get("transport")) not in USABLE_SERVERS:
                raise refuse(f"entry {i}: {quote(url)} is not a stun:host:port, turn:host:port?transport=udp|tcp "
                             "or turns:host:port URL")
        username, credential = entry.get("username"), entry.get("credential")
        if not all(text is None or isinstance(text, str) for text in (username, credential)):
            raise refuse(f"entry {i}: 'username' and 'credential' must be strings")
        if any(u.startswith("turn") for u in urls) and (username is None or credential is None):
            raise refuse(f"entry {i}: a TURN server needs 'username' and 'credential'")
        servers.append(IceServer(tuple(urls), username, credential))
    return tuple(servers)
