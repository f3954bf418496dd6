"""The messages that steer a session's pipeline (text, flush, say, interrupt, set), the same from a viewer's
websocket, a broadcast's control websocket and the broadcast HTTP routes."""
from __future__ import annotations

from server.api.messages import Flush, Interrupt, Set, Text
from server.pipeline.session import SessionPipeline
from server.services import Services

Control = Text | Flush | Interrupt | Set


def control(pipeline: SessionPipeline, message: Control, services: Services, received_at: float) -> None:
    """Apply `message` to `pipeline`, or raise ProtocolError (unknown avatar or voice, too much text, ...).
    `received_at`: event-loop time the message arrived (for the interrupt latency)."""
    if isinstance(message, Text):
        pipeline.text(message.text, message.id, message.flush)
    elif isinstance(message, Flush):
        pipeline.flush()
    elif isinstance(message, Interrupt):
        pipeline.interrupt(received_at)
    elif isinstance(message, Set):
        bundle = services.avatar(message.avatar) if message.avatar else None
        voice = services.voice_id(message.voice) if message.voice else None
        pipeline.set(bundle, voice)
