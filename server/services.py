"""What every session of one server shares: the voices, the face engine, worker pools, avatars, metrics, and
the table of open sessions (admission)."""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING

import cv2

from engines.avatar import (
    AvatarBundle,
    AvatarRenderer,
    UnknownAvatar,
    list_avatars,
    load_avatar,
)
from engines.face.factory import create_face_engine
from engines.face.fallback import with_phoneme_fallback
from engines.tts.base import UnknownVoice
from engines.tts.registry import ENGINES, VoiceRegistry
from server.admission import Admission
from server.config import ServerConfig
from server.metrics import Metrics
from server.protocol import ProtocolError

if TYPE_CHECKING:
    from server.session import Session

log = logging.getLogger(__name__)
# Scheduling priority of speech-synthesis threads relative to the rest of the server (0 = same, 19 = lowest).
TTS_NICE = 10


class Services:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.voices = VoiceRegistry(_engine_names(config.tts), default=config.tts)
        self.default_voice = self.voice_id(config.voice)
        self.face = with_phoneme_fallback(
            create_face_engine(config.face_driver, config.face_backend, on_batch=self._face_batch),
            on_fallback=lambda reason: self.metrics.face_fallbacks.inc(),
        )
        self.default_avatar = self.avatar(config.avatar)
        # A renderer's first construction per avatar precomputes its warp fields (up to a second); do it now,
        # not on the event loop when the first session asks for that avatar.
        for bundle in [self.default_avatar, *map(self.avatar, list_avatars())]:
            AvatarRenderer(bundle)
        # Sessions render in parallel on the render pool; OpenCV's own threads would only oversubscribe the cores.
        cv2.setNumThreads(1)
        # TTS engines release the GIL in their native code; two workers let two sessions synthesize at once. Speech
        # is synthesized well ahead of playback, frames are not: when the cores are busy, rendering and encoding
        # go first, so the synthesis threads run at a lower scheduling priority.
        self.tts_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tts", initializer=_lower_priority)
        self.render_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="render")
        self.sessions: dict[str, Session] = {}
        self.admission = Admission(config.max_sessions, config.admit_by_headroom, config.max_late_fraction)

    def voice_id(self, name: str | None) -> str:
        """The canonical "engine:voice" id of a voice name, or ProtocolError unknown_voice."""
        try:
            engine, voice = self.voices.resolve(name)
        except UnknownVoice as exc:
            raise ProtocolError("unknown_voice", str(exc)) from None
        return f"{engine.name}:{voice}"

    def avatar(self, name: str | None) -> AvatarBundle:
        if name is None:
            return self.default_avatar
        try:
            return _load_avatar(name)
        except UnknownAvatar as exc:
            raise ProtocolError("unknown_avatar", str(exc)) from None

    def avatars(self) -> list[str]:
        return list_avatars()

    def refusal(self) -> str | None:
        return self.admission.refusal(len(self.sessions))

    def _face_batch(self, size: int, seconds: float) -> None:
        self.metrics.face_batch.observe(size)
        self.metrics.face_inference.observe(seconds)

    async def close(self) -> None:
        await self.face.close()
        self.tts_pool.shutdown(wait=False, cancel_futures=True)
        self.render_pool.shutdown(wait=False, cancel_futures=True)


@lru_cache(maxsize=32)
def _load_avatar(name: str) -> AvatarBundle:
    return load_avatar(name)


def _engine_names(default: str) -> list[str]:
    """The default engine first, then every other registered engine (all of them ship with the project)."""
    return [default] + [name for name in ENGINES if name != default]


def _lower_priority() -> None:
    """Give the calling thread a nice value of TTS_NICE (Linux schedules threads individually)."""
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TTS_NICE)
