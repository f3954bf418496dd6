"""One session's pipeline: its clock, media, pacer and performer, and the events it emits, behind the few calls
every front end uses (the websocket protocol, the HTTP API, integrations): text, flush, interrupt, set, subscribe.

A session speaks streamed text (the Speaker) or mirrors a live voice (the VoiceMirror); either fills the media,
and the pacer turns it into frames on the session clock for however many outputs are subscribed.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass

from engines.avatar.base import RendererEngine
from engines.avatar.bundle import AvatarBundle
from engines.face.base import FaceEngine
from engines.tts.registry import VoiceRegistry
from engines.vad.registry import create_vad
from server.config import ServerConfig
from server.metrics import Metrics
from server.pipeline.bus import FrameBus, Subscription
from server.pipeline.clock import MediaClock
from server.pipeline.errors import ProtocolError
from server.pipeline.events import EventHub
from server.pipeline.media import SessionMedia
from server.pipeline.pacer import Pacer
from server.pipeline.performer import Performer, Stage
from server.pipeline.speaker import Speaker
from server.pipeline.voice_input import AudioInput, VoiceMirror


@dataclass(frozen=True)
class PipelineResources:
    """What every session of a process shares."""

    voices: VoiceRegistry
    face: FaceEngine
    renderers: RendererEngine
    tts_pool: Executor
    metrics: Metrics
    config: ServerConfig
    on_video_frame: Callable[[bool], None]  # each video frame sent, late or not (admission)
    seeds: Iterator[int]  # a new renderer seed per avatar shown, so no two sessions move alike


class SessionPipeline:
    def __init__(
        self,
        resources: PipelineResources,
        *,
        avatar: AvatarBundle,
        voice: str,
        log: logging.LoggerAdapter,
        voice_input: AudioInput | None = None,
        clock: MediaClock | None = None,
    ) -> None:
        """A text-mode session, or voice mode when `voice_input` brings the client's voice. `clock` defaults to
        the event loop's (live); a VirtualClock runs the session in fake or faster-than-real time."""
        config = resources.config
        self._resources = resources
        self.log = log
        self.events = EventHub()
        self.clock = clock or MediaClock()
        self.media = SessionMedia(
            resources.renderers.open(avatar, next(resources.seeds)),
            config.media,
            resources.metrics,
            resources.on_video_frame,
        )
        self._bus = FrameBus(config.media.audio_queue_frames, config.media.video_queue_frames)
        self._pacer = Pacer(self.clock, self.media, self._bus, config.media, log)
        stage = Stage(
            self.media, self.clock, resources.face.open_stream(), config.media, resources.metrics, self.events.emit, log
        )
        self.performer: Performer
        if voice_input is None:
            self.performer = Speaker(
                stage,
                voices=resources.voices,
                voice=voice,
                tts_pool=resources.tts_pool,
                limits=config.limits,
                text_settings=config.text,
            )
        else:
            self.performer = VoiceMirror(
                stage, voice=voice_input, vad=create_vad(config.voice_mode.vad), settings=config.voice_mode
            )

    @property
    def speaker(self) -> Speaker | None:
        """The text performer (None in voice mode)."""
        return self.performer if isinstance(self.performer, Speaker) else None

    @property
    def mode(self) -> str:
        return "text" if self.speaker is not None else "voice"

    @property
    def avatar(self) -> AvatarBundle:
        return self.media.renderer.bundle

    @property
    def speaking(self) -> bool:
        """Whether an utterance (text) or a spurt of the incoming voice is under way."""
        return self.performer.speaking

    def start(self) -> None:
        """Start the session clock and its frames (once): when the first output is ready to take them."""
        self._pacer.start()

    def subscribe(self) -> Subscription:
        """The frames of this session from now on, for one output."""
        return self._bus.subscribe()

    def text(self, delta: str, id: str | None = None, flush: bool = False) -> None:
        self._text_mode().text(delta, id, flush)

    def flush(self) -> None:
        self._text_mode().flush()

    def interrupt(self, received_at: float) -> None:
        """Stop now: audio fades out at the playback position, the mouth eases to rest, pending text is dropped.
        `received_at`: event-loop time the request arrived (for the interrupt latency metric)."""
        self.performer.interrupt(received_at)

    def set(self, avatar: AvatarBundle | None = None, voice: str | None = None) -> None:
        """Change avatar (at once) or voice (for the next utterance; voice mode speaks with the client's)."""
        if avatar is not None:
            self.media.renderer = self._resources.renderers.open(avatar, next(self._resources.seeds))
        speaker = self.speaker
        if voice is not None and speaker is not None:
            speaker.voice = voice

    async def close(self) -> None:
        await self.performer.close()
        await self._pacer.close()

    def _text_mode(self) -> Speaker:
        speaker = self.speaker
        if speaker is None:
            raise ProtocolError("bad_message", "in voice mode the avatar speaks with your audio, not with text")
        return speaker
