"""The transport interface. An `Output` takes a session's frames away: pulled by a viewer (a WebRTC peer, WHEP),
or pushed (RTMP, WHIP, a file). A session may have several at once; each reads its own subscription of the
session's frames (server/pipeline/bus.py), so none can hold back the others. A transport that brings the client's
voice in (voice mode) also hands the pipeline an `AudioInput` (server/pipeline/voice_input.py)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from server.pipeline.session import SessionPipeline

STATES = ("connecting", "live", "retrying", "failed")


@dataclass
class OutputStatus:
    """What /healthz, /metrics and the broadcast API say about an output."""

    kind: str
    url: str | None = None
    state: str = "connecting"  # one of STATES
    frames_sent: int = 0
    reconnects: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "state": self.state,
            "frames_sent": self.frames_sent,
            "reconnects": self.reconnects,
            "error": self.error,
        }


class Output(ABC):
    kind: str

    @abstractmethod
    async def start(self, pipeline: SessionPipeline) -> None:
        """Begin taking the session's frames (subscribe; connect or open whatever the output needs)."""

    @abstractmethod
    def status(self) -> OutputStatus:
        """The output's state now."""

    @abstractmethod
    async def close(self) -> None:
        """End cleanly (stream ended, resource deleted, file finalized) and release every task and socket."""
