"""Media as it arrives on the wire, without decoding: every RTP packet stamped on arrival, video frames counted by
their RTP timestamp, speech told from silence by the audio-level header extension (RFC 6464).

A load client that decodes every stream spends about as much CPU on it as the server spends making them, so on
one machine it measures its own cost. A tap sits below aiortc's decoder: the receiver still does everything a
receiver owes its sender (RTCP reports, NACKs, bitrate estimates, which set the sender's bitrate), but the frames it
reassembles are dropped instead of decoded.
"""
from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

# RFC 6464 level of digital silence (-127 dBov); speech is far louder (a smaller number).
SILENT_DBOV = 127


class RtpArrival(NamedTuple):
    at: float  # time.monotonic() when the packet was handed to the receiver
    timestamp: int  # RTP timestamp relative to the stream's first packet (wraps unrolled)
    sequence: int
    marker: bool  # the last packet of a video frame
    size: int  # payload bytes
    level_dbov: int | None  # audio: RFC 6464 level (0 loudest, 127 silence); None when the sender sent none


class _DroppedFrames(queue.Queue):
    """Stands in for the receiver's decoder queue: reassembled frames are dropped, only the stop signal passes."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(item, block, timeout)


class WireTap:
    """The RTP packets of one received track, in arrival order."""

    def __init__(self, kind: str, on_packet: Callable[[RtpArrival], None] | None = None) -> None:
        self.kind = kind
        self.arrivals: list[RtpArrival] = []
        self.on_packet = on_packet
        self._ssrc: int | None = None
        self._origin = 0
        self._last = 0

    def install(self, receiver: RTCRtpReceiver) -> None:
        """Stamp the receiver's packets and drop its frames undecoded. Call before the receiver starts (before
        the remote description is set): aiortc hands its decoder thread the queue at that point.

        aiortc has no public hook below the decoder; its receiver keeps the decoder queue in a private
        attribute, so a missing attribute (a newer aiortc) is an error here rather than a silent decode."""
        attribute = "_RTCRtpReceiver__decoder_queue"
        if not hasattr(receiver, attribute):
            raise RuntimeError(f"aiortc's RTCRtpReceiver has no {attribute}: cannot receive without decoding")
        setattr(receiver, attribute, _DroppedFrames())
        handle = receiver._handle_rtp_packet

        async def stamped(packet: RtpPacket, arrival_time_ms: int) -> None:
            self._stamp(packet)
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = stamped

    def _stamp(self, packet: RtpPacket) -> None:
        if self._ssrc is None:
            self._ssrc, self._origin, self._last = packet.ssrc, packet.timestamp, packet.timestamp
        if packet.ssrc != self._ssrc:  # a retransmission stream (RTX) repeats packets already counted
            return
        if packet.timestamp < self._last and self._last - packet.timestamp > 1 << 31:
            self._origin -= 1 << 32
        self._last = packet.timestamp
        level = packet.extensions.audio_level
        arrival = RtpArrival(
            time.monotonic(),
            packet.timestamp - self._origin,
            packet.sequence_number,
            bool(packet.marker),
            len(packet.payload),
            None if level is None else int(level[1]),
        )
        self.arrivals.append(arrival)
        if self.on_packet is not None:
            self.on_packet(arrival)


def frame_arrivals(arrivals: list[RtpArrival]) -> list[tuple[float, int]]:
    """(arrival of its last packet, RTP timestamp) of every complete video frame, in arrival order."""
    return [(a.at, a.timestamp) for a in arrivals if a.marker]


def loud(arrival: RtpArrival, level_dbov: int) -> bool:
    """An audio packet whose level is at least `level_dbov` (e.g. 50: speech, not the silence between)."""
    return arrival.level_dbov is not None and arrival.level_dbov <= level_dbov
