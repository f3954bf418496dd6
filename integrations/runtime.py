"""The engines in-process avatars run on: the audio-to-face network, the renderer and the avatars, built once per
process and shared by every avatar it shows (as the server shares them between its sessions). Each avatar is a
session pipeline in audio mode: an agent framework's TTS audio in, paced frames out."""
from __future__ import annotations

import itertools
import logging
from functools import lru_cache
from typing import Any

from engines.avatar import AvatarBundle, load_avatar
from engines.avatar.registry import create_renderer
from engines.face.factory import create_face_engine
from server.config import MediaSettings, ServerConfig
from server.metrics import Metrics
from server.pipeline.session import PipelineResources, SessionPipeline

log = logging.getLogger(__name__)
_ids = itertools.count(1)


class AvatarLog(logging.LoggerAdapter):
    """Every line of an avatar's log starts with its id."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{self.extra['avatar']}] {msg}", kwargs


def default_config() -> ServerConfig:
    """The server's defaults, but half a second of frames buffered for each reader: a framework's output that
    stalls for a moment (its own queues full, a busy event loop) gets its frames late instead of losing them."""
    return ServerConfig(media=MediaSettings(audio_queue_frames=25, video_queue_frames=13))


class AvatarRuntime:
    """`config` is the server's configuration (its media, audio-input and worker groups, the renderer and the
    face backend apply); the default (`default_config`) works offline on a CPU. The mouth comes from the audio,
    so the face driver is always the network."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or default_config()
        if self.config.face_driver != "network":
            raise ValueError("speech audio from an agent framework brings no phonemes: the face driver must be the network")
        self.metrics = Metrics()
        self.face = create_face_engine("network", self.config.face_backend, on_batch=self.metrics.face_batch_done)
        self.renderers = create_renderer(
            self.config.renderer, self.config.render.renderer_options(self.config.workers.render_pool_size())
        )
        self.resources = PipelineResources(
            voices=None,
            face=self.face,
            voice_face=self.face,  # an agent's speech is synthesized: no session here mirrors a live voice
            renderers=self.renderers,
            tts_pool=None,
            metrics=self.metrics,
            config=self.config,
            on_video_frame=lambda late: None,
            seeds=itertools.count(1),
        )
        # A renderer precomputes its warp fields per avatar (up to a second): the default one now, not when the
        # first avatar opens on the event loop.
        self.avatar()

    def avatar(self, name: str | None = None) -> AvatarBundle:
        """A committed avatar by name or a bundle folder (None: the configured default), prepared for rendering.
        Raises engines.avatar.UnknownAvatar."""
        bundle = _load(name or self.config.avatar)
        self.renderers.prepare(bundle)
        return bundle

    def open(self, bundle: AvatarBundle) -> SessionPipeline:
        """A new avatar showing `bundle` (see `avatar`): an audio-mode session pipeline, not yet started."""
        avatar_log = AvatarLog(log, {"avatar": f"avatar {next(_ids)}"})
        avatar_log.info("opened, showing %s", bundle.name)
        return SessionPipeline(self.resources, avatar=bundle, log=avatar_log, audio_input=True)

    async def close(self) -> None:
        await self.face.close()
        await self.renderers.close()


@lru_cache(maxsize=32)
def _load(name: str) -> AvatarBundle:
    return load_avatar(name)
