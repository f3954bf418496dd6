"""WebRTC plumbing: answering a client's offer with the session's two tracks, and choosing ICE host addresses."""
from __future__ import annotations

from collections.abc import Sequence

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from server.protocol import ProtocolError


def restrict_ice_hosts(hosts: Sequence[str]) -> None:
    """Offer exactly these host addresses as ICE candidates.

    aioice gathers every interface address except loopback, so on a machine that only has loopback (or in tests
    that must stay on it) ICE could never connect. It has no setting for this; its address lookup is replaced.
    """
    addresses = list(hosts)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
        a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)
    ]


async def answer_offer(sdp: str, tracks: Sequence[MediaStreamTrack]) -> RTCPeerConnection:
    """A peer connection that sends `tracks` to the offerer, with its answer set as local description.

    No STUN server is contacted (iceServers empty) and candidates travel inside the SDP (no trickle). Codec
    choice follows the offer's order, so VP8 unless the offer puts H.264 first.
    """
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    except Exception as exc:  # aiortc raises several types on malformed SDP; all of them mean a bad offer
        await pc.close()
        raise ProtocolError("bad_offer", f"could not use the offer's SDP: {exc or type(exc).__name__}") from None
    kinds = {t.kind for t in pc.getTransceivers()}
    missing = {track.kind for track in tracks} - kinds
    if missing:
        await pc.close()
        raise ProtocolError("bad_offer", f"the offer has no {' or '.join(sorted(missing))} transceiver to receive on")
    for track in tracks:
        pc.addTrack(track)
    await pc.setLocalDescription(await pc.createAnswer())
    return pc
