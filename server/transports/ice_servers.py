"""The STUN and TURN servers of the configuration, with the credentials each peer gets (docs/protocol.md, "ICE
servers"): the operator's static ones, or time-limited ones made from the TURN server's shared secret by the TURN
REST scheme that coturn and most TURN services implement (username "expiry:session", credential the base64
HMAC-SHA1 of the username under the secret). Transport-neutral: the WebRTC peers, GET /v1/ice-servers and any
other WebRTC-based output use the same list."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from server.config import ICE_URL, IceSettings


@dataclass(frozen=True)
class IceServer:
    """One entry of an RTCConfiguration's iceServers."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    @property
    def is_turn(self) -> bool:
        return any(url.startswith("turn") for url in self.urls)

    def as_json(self) -> dict[str, object]:
        """As the browser's RTCIceServer (and GET /v1/ice-servers) has it."""
        entry: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            entry |= {"username": self.username, "credential": self.credential}
        return entry


def turn_rest_credentials(secret: str, session: str, ttl_s: float, now: float | None = None) -> tuple[str, str]:
    """(username, credential) valid until `ttl_s` from now, for `session`."""
    expiry = int((time.time() if now is None else now) + ttl_s)
    username = f"{expiry}:{session}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(settings: IceSettings, session: str, now: float | None = None) -> list[IceServer]:
    """The servers a peer of `session` uses: the STUN URLs as one entry, the TURN URLs with their credentials as
    another (time-limited ones name the session)."""
    stun = tuple(url for url in settings.ice_servers if url.startswith("stun"))
    turn = tuple(url for url in settings.ice_servers if url.startswith("turn"))
    servers = [IceServer(stun)] if stun else []
    if turn:
        if settings.turn_secret is not None:
            username, credential = turn_rest_credentials(settings.turn_secret, session, settings.turn_ttl_s, now)
        else:
            username, credential = settings.turn_user, settings.turn_password
        servers.append(IceServer(turn, username, credential))
    return servers


def turn_address(url: str) -> tuple[str, int, str, bool]:
    """(host, port, transport, TLS) of a TURN URL; the defaults are port 3478 (5349 with TLS) and UDP (TCP with
    TLS)."""
    match = ICE_URL.fullmatch(url)
    if match is None or not match["scheme"].startswith("turn"):
        raise ValueError(f"not a TURN URL: {url!r}")
    tls = match["scheme"] == "turns"
    port = int(match["port"]) if match["port"] else (5349 if tls else 3478)
    return match["host"].strip("[]"), port, match["transport"] or ("tcp" if tls else "udp"), tls
