"""Every setting of the server in one place, with defaults that work offline on a CPU-only machine."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from assets import WEB_DIR


@dataclass(frozen=True)
class Limits:
    """Bounds on what one client may ask of the server (PROTOCOL.md, "Limits and bad input")."""

    max_message_bytes: int = 64 * 1024
    max_pending_chars: int = 20_000
    ice_timeout_s: float = 30.0
    # Synthesis stops running ahead of playback once this much audio is buffered: memory stays bounded.
    max_buffered_audio_s: float = 8.0
    tts_timeout_s: float = 10.0


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    max_sessions: int = 8
    # Refuse new sessions while admitted ones already render late (fraction of late frames, recent window).
    admit_by_headroom: bool = False
    max_late_fraction: float = 0.01
    tts: str = "piper"
    voice: str | None = None
    avatar: str = "astronaut"
    face_driver: str = "network"
    face_backend: str = "auto"
    # Host addresses offered as ICE candidates; empty = every interface (aioice's default, which omits loopback).
    ice_hosts: tuple[str, ...] = ()
    # Extra delay before the first sample of new speech: time for the first video frame to be computed.
    speech_lead_s: float = 0.06
    client_dir: Path = WEB_DIR
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def token_from_env(cls) -> str | None:
        return os.environ.get("AVATAR_TOKEN") or None
