"""What makes the avatar speak: the Speaker (streamed text) or the VoiceMirror (a live voice). Either fills the
session's media (timeline, cues, mouth and gesture schedules) through its animation and emits the session's
events."""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

from engines.timebase import seconds_to_samples
from server.config import MediaSettings
from server.metrics import Metrics
from server.pipeline.animation import Animation
from server.pipeline.clock import MediaClock
from server.pipeline.events import Listener
from server.pipeline.media import SessionMedia


@dataclass(frozen=True)
class Stage:
    """The session a performer works in."""

    media: SessionMedia
    clock: MediaClock
    animation: Animation  # the face and gesture streams, fed the same speech
    settings: MediaSettings
    metrics: Metrics
    emit: Listener
    log: logging.LoggerAdapter


class Performer(ABC):
    def __init__(self, stage: Stage) -> None:
        self._media = stage.media
        self._clock = stage.clock
        self._animation = stage.animation
        self._metrics = stage.metrics
        self._emit = stage.emit
        self._log = stage.log
        # Silence up to this long between two pieces of speech is fed to the face and gesture streams as context; a
        # longer one restarts them at the new speech.
        self._max_face_gap = seconds_to_samples(stage.settings.max_face_gap_s)

    @property
    @abstractmethod
    def speaking(self) -> bool:
        """Whether the avatar is speaking (or about to)."""

    @abstractmethod
    def interrupt(self, received_at: float) -> None:
        """Stop now (server/pipeline/media.py `cut`) and end what was under way."""

    @abstractmethod
    async def close(self) -> None:
        """Stop every task of the performer."""
