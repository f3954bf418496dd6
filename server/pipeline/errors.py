"""Refusals with a documented code (docs/protocol.md): raised anywhere a client's request cannot be served, and
turned into an `error` event or an HTTP error by whoever answers that client. The session always goes on."""
from __future__ import annotations

from typing import Any

from server.pipeline.events import error


class ProtocolError(Exception):
    """A refused message or request. `code` is one of docs/protocol.md's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def event(self) -> dict[str, Any]:
        return error(self.code, self.message)


def quote(value: str, limit: int = 40) -> str:
    """A client's string for an error message, shortened: errors must stay small whatever was sent."""
    return repr(value if len(value) <= limit else value[:limit] + "...")
