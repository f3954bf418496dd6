"""The messages that steer a session (text, flush, say, interrupt, set), the same from a viewer's websocket, a
broadcast's control websocket and the broadcast HTTP routes."""
from __future__ import annotations

from typing import Protocol

from engines.avatar.bundle import AvatarBundle
from server.api.messages import Chat, Flush, Interrupt, Message, Set, Text
from server.pipeline.errors import ProtocolError
from server.services import Services


class Steerable(Protocol):
    """A session's pipeline, or a viewer's LiveSession (which also stops its LLM answer on interrupt)."""

    def text(self, delta: str, id: str | None = None, flush: bool = False) -> None: ...

    def flush(self) -> None: ...

    def interrupt(self, received_at: float) -> None: ...

    def set(self, avatar: AvatarBundle | None = None, voice: str | None = None) -> None: ...


def control(target: Steerable, message: Message, services: Services, received_at: float) -> None:
    """Apply `message` to `target`, or raise ProtocolError (unknown avatar or voice, too much text, ...).
    `received_at`: event-loop time the message arrived (for the interrupt latency)."""
    if isinstance(message, Text):
        target.text(message.text, message.id, message.flush)
    elif isinstance(message, Flush):
        target.flush()
    elif isinstance(message, Interrupt):
        target.interrupt(received_at)
    elif isinstance(message, Set):
        bundle = services.avatar(message.avatar) if message.avatar else None
        voice = services.voice_id(message.voice) if message.voice else None
        target.set(bundle, voice)
    elif isinstance(message, Chat):
        raise ProtocolError("bad_message", "chat belongs to a viewer's session (/ws with an offer), not a broadcast")
