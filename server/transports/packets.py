"""Encoded media shared by a broadcast's outputs: the packets of its one H.264 + AAC encoder, fanned out to every
output that muxes them (RTMP, file), each through its own bounded subscription.

A packet carries its timestamps on the session clock, so every output stamps audio and video from the same
origin. An output that falls behind by more than its buffer loses what it had queued and resumes at the next
keyframe (asking the encoder for one at once), so a stalled network costs that output a moment of media, never the
other outputs or the encoder their timing, and never a stream a decoder cannot start.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class EncodedPacket:
    kind: str  # "video" or "audio"
    data: bytes
    pts: int
    dts: int
    time_base: Fraction
    keyframe: bool

    @property
    def time(self) -> float:
        """Session time of the packet's first sample or frame (s)."""
        return float(self.pts * self.time_base)


class PacketSubscription:
    """One output's queue of encoded packets. It starts, and restarts after `resync()` or an overflow, at a video
    keyframe: packets before it (and audio older than it) are skipped, so a new muxer gets a decodable start."""

    def __init__(self, fanout: PacketFanout, buffer_s: float, request_keyframe: Callable[[], None]) -> None:
        self._fanout = fanout
        self._buffer_s = buffer_s
        self._request_keyframe = request_keyframe
        self._items: deque[EncodedPacket] = deque()
        self._ready = asyncio.Event()
        self._start_time: float | None = None  # time of the keyframe the stream (re)started at; None: waiting
        self.overflows = 0

    def resync(self) -> None:
        """Drop what is queued and start again at the next keyframe (an output's new connection)."""
        self._items.clear()
        self._start_time = None
        self._request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the encoder for a keyframe at once (a WebRTC receiver lost pictures)."""
        self._request_keyframe()

    def put(self, packet: EncodedPacket) -> None:
        if self._start_time is None:
            if packet.kind != "video" or not packet.keyframe:
                return
            self._start_time = packet.time
        elif packet.time < self._start_time:
            return
        self._items.append(packet)
        if packet.time - self._items[0].time > self._buffer_s:
            self.overflows += 1
            self.resync()
            return
        self._ready.set()

    async def batch(self) -> list[EncodedPacket]:
        """Every packet queued now, waiting for at least one."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        items = list(self._items)
        self._items.clear()
        return items

    def drain(self) -> list[EncodedPacket]:
        """Whatever is queued, without waiting (the last packets before an output closes)."""
        items = list(self._items)
        self._items.clear()
        return items

    def close(self) -> None:
        self._fanout.unsubscribe(self)


class PacketFanout:
    """Every packet of the encoder to every subscription (on the event loop)."""

    def __init__(self) -> None:
        self._subscriptions: list[PacketSubscription] = []

    def subscribe(self, buffer_s: float, request_keyframe: Callable[[], None]) -> PacketSubscription:
        subscription = PacketSubscription(self, buffer_s, request_keyframe)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: PacketSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def publish(self, packets: list[EncodedPacket]) -> None:
        for subscription in list(self._subscriptions):
            for packet in packets:
                subscription.put(packet)

    def __len__(self) -> int:
        return len(self._subscriptions)
