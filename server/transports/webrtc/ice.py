"""ICE for the server's own peers: which host addresses they offer as candidates, the STUN and TURN servers they
use (in aiortc's terms: the viewers' peers the configured ones, a publishing peer (WHIP, Janus) those its request
names), and why a TURN server gives no relay when it does not."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aioice.ice
from aioice import stun, turn
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCIceTransportPolicy
from aiortc.rtcicetransport import parse_stun_turn_uri

from server.pipeline.errors import ProtocolError, quote
from server.config import IceSettings
from server.transports.ice_servers import IceServer, ice_servers, turn_address

log = logging.getLogger(__name__)
# (scheme, transport) of the ICE server URLs aiortc (1.16, with aioice 0.13) gathers candidates from; it ignores
# the others (stuns:, TURN/TLS over UDP) without a word. Its URL parser has no IPv6 literals.
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


def usable_by_aiortc(url: str) -> bool:
    """Whether aiortc's peers can use this STUN or TURN URL (browsers use every one)."""
    try:
        parsed = parse_stun_turn_uri(url)
    except ValueError:
        return False
    return (parsed["scheme"], parsed.get("transport")) in USABLE_SERVERS


def rtc_configuration(servers: Sequence[IceServer], relay_only: bool, **options: Any) -> RTCConfiguration:
    """The servers as an aiortc configuration; `relay_only`: gather and use relayed candidates only (aioice's
    RELAY policy: no host or server-reflexive candidates, remote mDNS candidates ignored)."""
    ice = [
        RTCIceServer(urls=urls, username=server.username, credential=server.credential)
        for server in servers
        if (urls := [url for url in server.urls if usable_by_aiortc(url)])
    ]
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=ice, iceTransportPolicy=policy, **options)


async def turn_failure(servers: Sequence[IceServer], timeout_s: float = 5.0) -> str | None:
    """Why the TURN server the server's peers use gives no relayed candidate, by asking it for an allocation with
    the same credentials: None when it grants one (or there is none to ask)."""
    usable = [(url, server) for server in servers for url in server.urls if url.startswith("turn")
              and usable_by_aiortc(url)]
    if not usable:
        return "no TURN server that aiortc can use is configured (turn: over UDP or TCP, turns: over TCP)"
    url, server = usable[0]
    host, port, transport, tls = turn_address(url)
    try:
        async with asyncio.timeout(timeout_s):
            relay, _ = await turn.create_turn_endpoint(
                asyncio.DatagramProtocol, server_addr=(host, port), username=server.username,
                password=server.credential, ssl=tls, transport=transport,
            )
    except stun.TransactionFailed as exc:
        code, reason = exc.response.attributes.get("ERROR-CODE", (None, "no reason given"))
        what = "refused the credentials" if code in (401, 403, 441) else "refused the allocation"
        return f"TURN server {url} {what} ({code} {reason})"
    except (TimeoutError, OSError, ConnectionError, stun.TransactionError) as exc:
        return f"TURN server {url} cannot be reached ({type(exc).__name__}: {exc or 'no answer'})"
    relay.close()
    return None


@dataclass(frozen=True)
class IceConfig:
    """The ICE servers of a peer that makes its own offer, and whether it may use relayed candidates only."""

    servers: tuple[IceServer, ...] = ()
    relay_only: bool = False

    def rtc_configuration(self) -> RTCConfiguration:
        """One transport for audio and video (max-bundle), as WHIP (RFC 9725) and Janus expect of a publisher."""
        return rtc_configuration(self.servers, self.relay_only, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


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
            if not usable_by_aiortc(url):
                raise refuse(f"entry {i}: {quote(url)} is not a stun:host:port, turn:host:port?transport=udp|tcp "
                             "or turns:host:port URL")
        username, credential = entry.get("username"), entry.get("credential")
        if not all(text is None or isinstance(text, str) for text in (username, credential)):
            raise refuse(f"entry {i}: 'username' and 'credential' must be strings")
        if any(u.startswith("turn") for u in urls) and (username is None or credential is None):
            raise refuse(f"entry {i}: a TURN server needs 'username' and 'credential'")
        servers.append(IceServer(tuple(urls), username, credential))
    return tuple(servers)


def publishing_ice(requested: Any, settings: IceSettings, session: str) -> IceConfig:
    """A publishing peer's ICE: the servers its request names (`iceServers`), else the server's own
    (`--ice-server`, with credentials made for `session`); the server's transport policy either way."""
    if requested is None:
        return IceConfig(tuple(ice_servers(settings, session)), settings.ice_transport_policy == "relay")
    return IceConfig(parse_ice_servers(requested, "iceServers"), settings.ice_transport_policy == "relay")
