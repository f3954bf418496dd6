"""One session's pipeline: its clock, media, pacer and performer, and the events it emits, behind the few calls
every front end uses (the websocket protocol, the HTTP API, integrations): text, flush, interrupt, set, subscribe.

A session speaks streamed text (the Speaker), mirrors a live voice (the VoiceMirror) or speaks speech audio made
elsewhere (the AudioSpeaker: an agent framework's TTS); each fills the media, and the pacer turns it into frames on
the session clock for however many outputs are subscribed.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from engines.avatar.base import RendererEngine
from engines.avatar.bundle import AvatarBundle
from engines.face.base import FaceEngine
from engines.face.gestures import DECISION_FRAMES, GestureStream
from engines.timebase import seconds_to_samples
from engines.tts.registry import VoiceRegistry
from engines.vad.registry import create_vad
from server.config import ServerConfig
from server.metrics import Metrics
from server.pipeline.animation import Animation
from server.pipeline.audio_speaker import AudioSpeaker
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
    """What every session of a process shares. A process that only animates audio made elsewhere (an
    integration) has no voices and no synthesis threads."""

    voices: VoiceRegistry | None
    face: FaceEngine  # text and audio mode: speech synthesized with the text at hand
    voice_face: FaceEngine  # voice mode: a live human voice, with as little look-ahead as will do
    renderers: RendererEngine
    tts_pool: Executor | None
    metrics: Metrics
    config: ServerConfig
    on_video_frame: Callable[[bool], None]  # each video frame sent, late or not (admission)
    seeds: Iterator[int]  # a new seed per avatar shown and per gesture stream, so no two sessions move alike


class SessionPipeline:
    def __init__(
        self,
        resources: PipelineResources,
        *,
        avatar: AvatarBundle,
        log: logging.LoggerAdapter,
        voice: str | None = None,
        voice_input: AudioInput | None = None,
        audio_input: bool = False,
        clock: MediaClock | None = None,
    ) -> None:
        """A text-mode session speaking with `voice` (None: the default voice), voice mode when `voice_input`
        brings the client's voice, or audio mode when `audio_input` is set (the caller hands over speech audio
        with `audio`). `clock` defaults to the event loop's (live); a VirtualClock runs the session in fake or
        faster-than-real time."""
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
        live = voice_input is not None
        gestures = (
            GestureStream(next(resources.seeds), config.voice_mode.gesture_lookahead_frames if live else DECISION_FRAMES)
            if config.media.speech_gestures else None
        )
        face = resources.voice_face if live else resources.face
        animation = Animation(self.media, face.open_stream(), gestures, seconds_to_samples(config.media.max_face_gap_s))
        stage = Stage(self.media, self.clock, animation, config.media, resources.metrics, self.events.emit, log)
        self.performer: Performer
        if audio_input:
            self.performer = AudioSpeaker(stage, settings=config.audio_input)
        elif voice_input is None:
            if resources.voices is None or resources.tts_pool is None:
                raise ValueError("this process has no speech engines: a text-mode session needs them")
            self.performer = Speaker(
                stage,
                voices=resources.voices,
                voice=voice if voice is not None else resources.voices.default_voice_id,
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
        """The text performer (None in the other modes)."""
        return self.performer if isinstance(self.performer, Speaker) else None

    @property
    def audio_speaker(self) -> AudioSpeaker | None:
        """The audio performer (None in the other modes)."""
        return self.performer if isinstance(self.performer, AudioSpeaker) else None

    @property
    def mode(self) -> str:
        return {Speaker: "text", VoiceMirror: "voice", AudioSpeaker: "audio"}[type(self.performer)]

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

    def audio(self, pcm48: np.ndarray, id: str | None = None) -> None:
        """Speech audio (int16 mono, 48 kHz) as the next piece of the current utterance: audio mode's input, and in
        text mode a recording spoken in turn with the text (LiveTalking's /humanaudio; see Speaker.audio)."""
        audio_speaker = self.audio_speaker
        if audio_speaker is not None:
            audio_speaker.audio(pcm48, id)
        else:
            self._text_mode().audio(pcm48, id)

    def flush(self) -> None:
        """The current utterance is complete (text or audio mode)."""
        audio_speaker = self.audio_speaker
        if audio_speaker is not None:
            audio_speaker.flush()
        else:
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
        self.media.close()

    def _text_mode(self) -> Speaker:
        speaker = self.speaker
        if speaker is None:
            speaks_with = "your audio" if self.mode == "voice" else "the audio it is given"
            raise ProtocolError("bad_message", f"in {self.mode} mode the avatar speaks with {speaks_with}, not with text")
        return speaker
