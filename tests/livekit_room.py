"""Two LiveKit rooms joined in memory, for driving LiveKit's own avatar classes without a LiveKit server.

No LiveKit server can run here, so `rtc.Room` (a connection to one, through the SDK's native core) is replaced by
`LoopbackRoom`: the part of its interface that LiveKit's DataStreamAudioOutput, DataStreamAudioReceiver and
AvatarRunner use (participants, byte streams, RPC, publishing tracks, room events), carried between the two rooms
of a pair in this process. What travels is what a server would carry: the byte stream's header attributes and
chunks, the RPC method, payload and caller identity, and errors for unknown methods.
"""
from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from livekit import rtc

_ids = itertools.count(1)


@dataclass
class StreamInfo:
    stream_id: str
    topic: str
    name: str
    attributes: dict[str, str]


class ByteReader:
    """The receiving end of a byte stream: its header, then its chunks until the sender closes it."""

    def __init__(self, info: StreamInfo) -> None:
        self.info = info
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

    def __aiter__(self) -> ByteReader:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._chunks.get()
        if chunk is None:
            raise StopAsyncIteration
        return chunk


class ByteWriter:
    def __init__(self, readers: list[ByteReader]) -> None:
        self._readers = readers

    async def write(self, data: bytes) -> None:
        for reader in self._readers:
            reader._chunks.put_nowait(bytes(data))

    async def aclose(self) -> None:
        for reader in self._readers:
            reader._chunks.put_nowait(None)


@dataclass
class Publication:
    track: object
    kind: int
    sid: str = field(default_factory=lambda: f"TR_{next(_ids)}")

    async def wait_for_subscription(self) -> None:
        return None


@dataclass
class Participant:
    identity: str
    kind: int = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
    state: int = rtc.ParticipantState.PARTICIPANT_STATE_ACTIVE
    attributes: dict[str, str] = field(default_factory=dict)
    track_publications: dict[str, Publication] = field(default_factory=dict)


class LocalParticipant(Participant):
    def __init__(self, room: LoopbackRoom, identity: str, kind: int) -> None:
        super().__init__(identity, kind)
        self._room = room
        self._rpc_handlers: dict[str, Callable] = {}
        self.rpc_calls: list[tuple[str, str, str]] = []  # (destination, method, payload) of every call made

    def register_rpc_method(self, method: str, handler: Callable) -> None:
        self._rpc_handlers[method] = handler

    async def perform_rpc(self, *, destination_identity: str, method: str, payload: str, **_: object) -> str:
        self.rpc_calls.append((destination_identity, method, payload))
        peer = self._room.peer(destination_identity)
        handler = peer.local_participant._rpc_handlers.get(method)
        if handler is None:
            raise rtc.RpcError(rtc.RpcError.ErrorCode.UNSUPPORTED_METHOD, f"no method {method}")
        data = rtc.RpcInvocationData(f"RPC_{next(_ids)}", self.identity, payload, 10.0, method)
        response = handler(data)
        return await response if inspect.isawaitable(response) else response

    async def stream_bytes(
        self, *, name: str, topic: str, destination_identities: list[str], attributes: dict[str, str], **_: object
    ) -> ByteWriter:
        info = StreamInfo(f"ST_{next(_ids)}", topic, name, dict(attributes))
        readers = []
        for identity in destination_identities:
            peer = self._room.peer(identity)
            handler = peer.byte_stream_handlers.get(topic)
            if handler is not None:
                reader = ByteReader(info)
                readers.append(reader)
                handler(reader, self.identity)
        return ByteWriter(readers)

    async def publish_track(self, track: object, options: rtc.TrackPublishOptions) -> Publication:
        kind = rtc.TrackKind.KIND_AUDIO if isinstance(track, rtc.LocalAudioTrack) else rtc.TrackKind.KIND_VIDEO
        publication = Publication(track, kind)
        self.track_publications[publication.sid] = publication
        self._room.emit("local_track_published", publication, track)
        return publication


class LoopbackRoom(rtc.EventEmitter):
    """One participant's side of a room that holds two: `pair()` makes both."""

    def __init__(self, identity: str, kind: int = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD) -> None:
        super().__init__()
        self.name = "loopback"
        self.local_participant = LocalParticipant(self, identity, kind)
        self.remote_participants: dict[str, Participant] = {}
        self.byte_stream_handlers: dict[str, Callable] = {}
        self._peer: LoopbackRoom | None = None

    @staticmethod
    def pair(
        agent: str = "agent", avatar: str = "avatar"
    ) -> tuple[LoopbackRoom, LoopbackRoom]:
        """The agent's room and the avatar worker's, each seeing the other as an active remote agent."""
        kind = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        a, b = LoopbackRoom(agent, kind), LoopbackRoom(avatar, kind)
        a._peer, b._peer = b, a
        a.remote_participants[avatar] = Participant(avatar, kind)
        b.remote_participants[agent] = Participant(agent, kind)
        return a, b

    def peer(self, identity: str) -> LoopbackRoom:
        if self._peer is None or self._peer.local_participant.identity != identity:
            raise rtc.RpcError(rtc.RpcError.ErrorCode.RECIPIENT_NOT_FOUND, f"{identity} is not in the room")
        return self._peer

    def isconnected(self) -> bool:
        return True

    def register_byte_stream_handler(self, topic: str, handler: Callable) -> None:
        self.byte_stream_handlers[topic] = handler
