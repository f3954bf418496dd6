"""The STUN and TURN servers of a client's peer connection: the server's own (GET /v1/ice-servers, with the access
token), or the caller's; and a clear error when the relay-only policy leaves the connection without candidates.

aiortc uses the first STUN URL and the first TURN URL it supports (turn: over UDP or TCP, turns: over TCP).
"""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aioice import stun, turn
from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy
from aiortc.rtcicetransport import parse_stun_turn_uri


class IceError(ConnectionError):
    """The peer connection cannot get the ICE candidates its policy needs (a TURN server refused or is away)."""


@dataclass(frozen=True)
class IceConfig:
    servers: list[RTCIceServer] = field(default_factory=list)
    relay_only: bool = False

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> IceConfig:
        """GET /v1/ice-servers' answer (the browser's RTCConfiguration shape)."""
        servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
                   for s in body.get("iceServers", [])]
        return cls(servers, body.get("iceTransportPolicy") == "relay")

    def rtc_configuration(self) -> RTCConfiguration:
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        return RTCConfiguration(iceServers=list(self.servers), iceTransportPolicy=policy)


def _api_url(ws_url: str) -> str:
    parts = urlsplit(ws_url)
    return urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, "/v1/ice-servers", "", ""))


async def fetch_ice_config(ws_url: str, token: str | None, timeout_s: float = 10.0) -> IceConfig:
    """The server's ICE servers for a session at `ws_url`; none when the server has no such route (older
    servers). A refused request (a wrong token) raises ConnectionRefusedError with the server's message."""
    request = urllib.request.Request(_api_url(ws_url), headers={"Authorization": f"Bearer {token}"} if token else {})

    def fetch() -> dict[str, Any]:
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return {}
            detail = exc.read().decode(errors="replace")[:200]
            raise ConnectionRefusedError(f"GET /v1/ice-servers: HTTP {exc.code}: {detail}") from None

    return IceConfig.from_json(await asyncio.to_thread(fetch))


def relay_candidates(sdp: str) -> int:
    return sum(line.startswith("a=candidate:") and " typ relay" in line for line in sdp.splitlines())


async def turn_refusal(config: IceConfig, timeout_s: float = 5.0) -> str:
    """Why no relayed candidate came: what the first TURN server says to an allocation request."""
    urls = [(url, server) for server in config.servers
            for url in ([server.urls] if isinstance(server.urls, str) else server.urls) if url.startswith("turn")]
    if not urls:
        return "no TURN server is configured"
    url, server = urls[0]
    parsed = parse_stun_turn_uri(url)
    try:
        async with asyncio.timeout(timeout_s):
            relay, _ = await turn.create_turn_endpoint(
                asyncio.DatagramProtocol, server_addr=(parsed["host"], parsed["port"]), username=server.username,
                password=server.credential, ssl=parsed["scheme"] == "turns", transport=parsed["transport"],
            )
    except stun.TransactionFailed as exc:
        return f"the TURN server {url} refused it: {exc} (wrong or expired credentials?)"
    except (TimeoutError, OSError, stun.TransactionError) as exc:
        return f"the TURN server {url} cannot be reached ({type(exc).__name__})"
    relay.close()
    return f"the TURN server {url} grants relays now (it failed only while gathering)"


async def check_relay(sdp: str, config: IceConfig) -> None:
    """With the relay-only policy, IceError unless the offer has a relayed candidate (else ICE could only time out)."""
    if config.relay_only and not relay_candidates(sdp):
        raise IceError(f"no relayed ICE candidate, and the policy allows no other: {await turn_refusal(config)}")
