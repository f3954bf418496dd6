"""What every session of one process shares: the voices, the face engine, the renderer, worker threads,
avatars, metrics and the table of open sessions. Built once from the configuration; only the engines it names
are loaded."""
from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from engines.avatar import AvatarBundle, UnknownAvatar, list_avatars, load_avatar
from engines.avatar.base import RendererOptions
from engines.avatar.registry import create_renderer
from engines.face.factory import create_face_engine
from engines.face.fallback import with_phoneme_fallback
from engines.tts.base import EngineOptions, UnknownVoice
from engines.tts.registry import VoiceRegistry
from engines.vad.registry import resolve_vad
from server.admission import Admission
from server.config import ServerConfig, TtsSettings
from server.llm.client import LlmClient
from server.metrics import Metrics
from server.pipeline.errors import ProtocolError
from server.pipeline.session import PipelineResources
from server.sessions import SessionTable
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
        self.face = with_phoneme_fallback(
            create_face_engine(config.face_driver, config.face_backend, on_batch=self.metrics.face_batch_done),
            on_fallback=lambda reason: self.metrics.face_fallbacks.inc(),
        )
        workers = config.workers
        self.renderers = create_renderer(
            config.renderer,
            RendererOptions(threads=workers.render_pool_size(), idle_motion_every=config.media.idle_motion_every),
        )
        self.default_avatar = self.avatar(config.avatar)
        # A renderer's first construction per avatar precomputes its warp fields (up to a second); do it now,
        # not on the event loop when the first session asks for that avatar.
        for bundle in [self.default_avatar, *map(self.avatar, list_avatars())]:
            self.renderers.prepare(bundle)
        # TTS engines release the GIL in their native code, so several sessions synthesize at once. Speech is
        # synthesized well ahead of playback, frames are not: when the cores are busy, rendering and encoding go
        # first, so the synthesis threads run at a lower scheduling priority.
        self.tts_pool = ThreadPoolExecutor(
            max_workers=workers.tts_threads,
            thread_name_prefix="tts",
            initializer=_lower_priority,
            initargs=(workers.tts_nice,),
        )
        self.encoding = Encoding(workers)
        admission = Admission(
            config.max_sessions, config.admit_by_headroom, config.max_late_fraction, config.lateness_window_s
        )
        self.sessions = SessionTable(admission)
        llm = config.llm
        self.llm = LlmClient(llm, os.environ.get(llm.llm_api_key_env)) if llm.llm_url else None
        # Further sections of /healthz, added by the parts of the server that have something to say there.
        self.health_parts: dict[str, Callable[[], Any]] = {}
        self.pipeline = PipelineResources(
            voices=self.voices,
            face=self.face,
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
        """The bundle of an avatar name (None: the default), or ProtocolError unknown_avatar."""
        if name is None:
            return self.default_avatar
        try:
            return _load_avatar(name)
        except UnknownAvatar as exc:
            raise ProtocolError("unknown_avatar", str(exc)) from None

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
            "vad": resolve_vad(self.config.voice_mode.vad),
            "avatars": list_avatars(),
            "voices": self.voices.voices(),
            "default_avatar": self.default_avatar.name,
            "default_voice": self.default_voice,
            "llm": {"model": self.llm.model} if self.llm is not None else None,
            **{name: part() for name, part in self.health_parts.items()},
        }

    async def close(self) -> None:
        if self.llm is not None:
            await self.llm.close()
        await self.face.close()
        await self.renderers.close()
        self.tts_pool.shutdown(wait=False, cancel_futures=True)
        self.encoding.close()


@lru_cache(maxsize=32)
def _load_avatar(name: str) -> AvatarBundle:
    return load_avatar(name)


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
