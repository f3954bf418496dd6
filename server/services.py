"""What every session of one process shares: the voices, the face engine, the renderer, worker threads,
avatars, metrics and the table of open sessions. Built once from the configuration; only the engines it names
are loaded."""
from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engines.avatar import AvatarBundle, AvatarCatalog, UnknownAvatar
from engines.avatar.registry import create_renderer
from engines.face.backends.base import DEFAULT_MODEL, VOICE_MODEL
from engines.face.base import FaceEngine
from engines.face.factory import create_face_engine
from engines.face.fallback import with_phoneme_fallback
from engines.tts.base import EngineOptions, UnknownVoice
from engines.tts.registry import VoiceRegistry
from engines.vad.registry import resolve_vad
from server.address_limits import AddressLimits
from server.admission import Admission
from server.avatar_preparation import AvatarPreparer
from server.config import ServerConfig, TtsSettings
from server.llm.client import LlmClient
from server.metrics import Metrics
from server.pipeline.errors import ProtocolError
from server.pipeline.session import PipelineResources
from server.sessions import SessionTable
from server.synthesis_pool import SynthesisPool
from server.transports.ice_servers import IceServer, ice_servers
from server.transports.webrtc.encoders import Encoding

log = logging.getLogger(__name__)


class Services:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.voices = VoiceRegistry(
            [config.tts, *config.tts_engines],
            default=config.tts,
            options={config.tts: _engine_options(config.tts_setup)},
        )
        self.default_voice = self.voice_id(config.voice)
        self.face = self._face_engine(DEFAULT_MODEL)
        # A live voice is held for as long as its network looks ahead: voice mode has a network of its own.
        voice_model = config.voice_mode.voice_face_model or VOICE_MODEL
        self.voice_face = self._face_engine(voice_model) if config.face_driver == "network" else self.face
        workers = config.workers
        self.renderers = create_renderer(
            config.renderer, config.render.renderer_options(workers.render_pool_size(), config.media.idle_motion_every)
        )
        uploads = config.uploads.avatar_uploads
        self.avatar_preparer = AvatarPreparer(uploads, config.uploads.avatar_prepare_nice) if uploads else None
        try:
            if uploads is not None:
                uploads.mkdir(parents=True, exist_ok=True)
            self.avatars = AvatarCatalog([*config.security.avatar_dirs, *([uploads] if uploads else [])])
            self.default_avatar_name = self.avatars.register(config.avatar)
        except (UnknownAvatar, OSError) as exc:
            raise ValueError(f"--avatar / --avatar-dir / --avatar-uploads: {exc}") from None
        self.default_avatar = self.avatar(self.default_avatar_name)
        # A renderer's first construction per avatar precomputes its warp fields (up to a second); do it now,
        # not on the event loop when the first session asks for that avatar.
        for name in dict.fromkeys([self.default_avatar_name, *self.avatars.names()]):
            try:
                self.renderers.prepare(self.avatars.load(name))
            except UnknownAvatar as exc:  # a damaged bundle in an operator's folder: clients get unknown_avatar
                log.warning("avatar %s cannot be used: %s", name, exc)
        # TTS engines release the GIL in their native code, so several sessions synthesize at once. Speech is
        # synthesized well ahead of playback, frames are not: when the cores are busy, rendering and encoding go
        # first, so the synthesis threads run at a lower scheduling priority. A synthesis that hangs gives its
        # thread up to a fresh one (server/synthesis_pool.py).
        self.tts_pool = SynthesisPool(
            workers.tts_threads,
            config.isolation.tts_stall_s,
            config.isolation.tts_max_stalled,
            initializer=_lower_priority,
            initargs=(workers.tts_nice,),
            on_stall=self.metrics.tts_stalled_threads.set,
        )
        self.encoding = Encoding(workers)
        admission = Admission(
            config.max_sessions, config.admit_by_headroom, config.max_late_fraction, config.lateness_window_s
        )
        self.sessions = SessionTable(admission)
        security = config.security
        self.addresses = AddressLimits(security.connect_rate_per_min, security.connect_burst,
                                       security.max_sessions_per_ip)
        llm = config.llm
        self.llm = LlmClient(llm, os.environ.get(llm.llm_api_key_env)) if llm.llm_url else None
        # Further sections of /healthz, added by the parts of the server that have something to say there.
        self.health_parts: dict[str, Callable[[], Any]] = {}
        self.pipeline = PipelineResources(
            voices=self.voices,
            face=self.face,
            voice_face=self.voice_face,
            renderers=self.renderers,
            tts_pool=self.tts_pool,
            metrics=self.metrics,
            config=config,
            on_video_frame=admission.lateness.record,
            seeds=itertools.count(1),
        )

    def voice_id(self, name: str | None) -> str:
        """The canonical "engine:voice" id of a voice name, or ProtocolError unknown_voice."""
        try:
            engine, voice = self.voices.resolve(name)
        except UnknownVoice as exc:
            raise ProtocolError("unknown_voice", str(exc)) from None
        return f"{engine.name}:{voice}"

    def avatar(self, name: str | None) -> AvatarBundle:
        """The bundle registered under a client's avatar name (None: the default), or ProtocolError
        unknown_avatar. The name is only compared with registered names, never used as a path."""
        if name is None:
            return self.default_avatar
        try:
            return self.avatars.load(name)
        except UnknownAvatar as exc:
            raise ProtocolError("unknown_avatar", str(exc)) from None

    def ice_servers(self, session: str) -> list[IceServer]:
        """The STUN and TURN servers, with credentials, for a peer of `session` (ours or a client's)."""
        return ice_servers(self.config.ice, session)

    @property
    def relay_only(self) -> bool:
        return self.config.ice.ice_transport_policy == "relay"

    def _face_engine(self, model: Path) -> FaceEngine:
        return with_phoneme_fallback(
            create_face_engine(self.config.face_driver, self.config.face_backend, model,
                               on_batch=self.metrics.face_batch_done),
            on_fallback=lambda reason: self.metrics.face_fallbacks.inc(),
        )

    def health(self) -> dict[str, Any]:
        """/healthz: the process's state and what it offers."""
        return {
            "status": "ok",
            "sessions": len(self.sessions),
            "max_sessions": self.config.max_sessions,
            "draining": self.sessions.draining,
            "tts": self.config.tts,
            "face_backend": self.face.backend,
            "face_driver": self.face.name,
            "face_note": getattr(self.face, "note", None),
            "renderer": self.renderers.name,
            "renderer_device": self.renderers.device,
            "vad": resolve_vad(self.config.voice_mode.vad),
            "avatars": self.avatars.names(),
            "voices": self.voices.voices(),
            "default_avatar": self.default_avatar_name,
            "default_voice": self.default_voice,
            "llm": {"model": self.llm.model} if self.llm is not None else None,
            **{name: part() for name, part in self.health_parts.items()},
        }

    async def close(self) -> None:
        if self.llm is not None:
            await self.llm.close()
        await self.face.close()
        if self.voice_face is not self.face:
            await self.voice_face.close()
        await self.renderers.close()
        self.tts_pool.shutdown(wait=False, cancel_futures=True)
        if self.avatar_preparer is not None:
            self.avatar_preparer.close()
        self.encoding.close()


def _engine_options(tts: TtsSettings) -> EngineOptions:
    return EngineOptions(
        model=tts.tts_model,
        rate=tts.tts_rate,
        threads=tts.tts_engine_threads,
        url=tts.tts_url,
        voice=tts.tts_voice,
        voices=tts.tts_voices,
        model_name=tts.tts_model_name,
        speaker_wav=tts.tts_speaker_wav,
        language=tts.tts_language,
        api_key_env=tts.tts_api_key_env,
        sample_rate=tts.tts_sample_rate,
        timeout=tts.tts_service_timeout_s,
    )


def _lower_priority(nice: int) -> None:
    """Lower the calling thread's priority by `nice` below the process's own (Linux schedules threads
    individually): relative, so that a server started at another nice value keeps the same gap to its render
    threads instead of being set to an absolute value."""
    thread = threading.get_native_id()
    os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + nice))
