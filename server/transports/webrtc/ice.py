"""ICE for the server's peers: which host addresses they offer, the STUN and TURN servers they use (in aiortc's
terms), and why a TURN server gives no relay when it does not."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aioice.ice
from aioice import stun, turn
from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy
from aiortc.rtcicetransport import parse_stun_turn_uri

from server.transports.ice_servers import IceServer, turn_address

log = logging.getLogger(__name__)
# aiortc (1.16, with aioice 0.13) takes the first STUN URL and the first TURN URL it can use: turn: over UDP or
# TCP, turns: over TCP. It ignores stuns: and turns: over UDP, and its URL parser has no IPv6 literals.
_USABLE_TRANSPORTS = {"turn": ("udp", "tcp"), "turns": ("tcp",)}


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
    if parsed["scheme"] == "stun":
        return True
    return parsed.get("transport") in _USABLE_TRANSPORTS.get(parsed["scheme"], ())


def rtc_configuration(servers: Sequence[IceServer], relay_only: bool) -> RTCConfiguration:
    """The servers as an aiortc configuration; `relay_only`: gather and use relayed candidates only (aioice's
    RELAY policy: no host or server-reflexive candidates, remote mDNS candidates ignored)."""
    ice = [
        RTCIceServer(urls=urls, username=server.username, credential=server.credential)
        for server in servers
        if (urls := [url for url in server.urls if usable_by_aiortc(url)])
    ]
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=ice, iceTransportPolicy=policy)


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
