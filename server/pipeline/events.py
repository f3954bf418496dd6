"""The events a session sends its clients (docs/protocol.md, "Server -> client"), built in this one place, and
the hub that hands them to every listener of the session (its websocket, an SSE stream, an integration)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
Listener = Callable[[Event], None]


def answer(sdp: str, session_id: str) -> Event:
    return {"type": "answer", "sdp": sdp, "session_id": session_id}


def speech_started(utterance: int, id: str | None) -> Event:
    return {"type": "speech_started", "utterance": utterance, "id": id}


def word(utterance: int, text: str, start_ms: int, end_ms: int) -> Event:
    return {"type": "word", "utterance": utterance, "text": text, "start_ms": start_ms, "end_ms": end_ms}


def speech_ended(utterance: int, id: str | None, interrupted: bool, spoken_text: str) -> Event:
    return {
        "type": "speech_ended",
        "utterance": utterance,
        "id": id,
        "interrupted": interrupted,
        "spoken_text": spoken_text,
    }


def reply(id: str, delta: str) -> Event:
    """A piece of the LLM's answer to a `chat` message, as it arrives (before it is spoken)."""
    return {"type": "reply", "id": id, "delta": delta}


def reply_ended(id: str, text: str, reason: str) -> Event:
    """The LLM's answer is complete (`done`), was cut short by an interrupt (`interrupted`) or failed (`error`)."""
    return {"type": "reply_ended", "id": id, "text": text, "reason": reason}


def session_ended(reason: str) -> Event:
    """The session is over (sent where no closing connection says so: a LiveTalking /sse stream)."""
    return {"type": "session_ended", "reason": reason}


def error(code: str, message: str) -> Event:
    return {"type": "error", "code": code, "message": message}


class EventHub:
    """A session's listeners. A listener must not block: it queues the event for its own client."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Add `listener`; returns the call that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)
