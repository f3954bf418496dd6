"""Command line: `python -m server` or `avatar-server`."""
from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from dataclasses import fields

from engines.tts.registry import ENGINES
from server.app import AvatarServer
from server.config import ServerConfig

_DEFAULTS = {f.name: f.default for f in fields(ServerConfig)}


def parse_args(argv: Sequence[str] | None = None) -> ServerConfig:
    p = argparse.ArgumentParser(prog="avatar-server", description="Real-time streaming avatar server (WebRTC).")
    p.add_argument("--host", default=_DEFAULTS["host"], help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=_DEFAULTS["port"], help="port for page, /ws, /healthz, /metrics")
    p.add_argument("--token", default=ServerConfig.token_from_env(), help="access token for /ws and /metrics "
                   "(default: $AVATAR_TOKEN; none = open)")
    p.add_argument("--max-sessions", type=int, default=_DEFAULTS["max_sessions"])
    p.add_argument("--admit-by-headroom", action="store_true",
                   help="also refuse new sessions while open ones render late frames")
    p.add_argument("--tts", default=_DEFAULTS["tts"], choices=tuple(ENGINES), help="default speech engine")
    p.add_argument("--voice", default=None, help="default voice id, e.g. piper:joe or espeak:en-us")
    p.add_argument("--avatar", default=_DEFAULTS["avatar"], help="default avatar: a bundle name or folder")
    p.add_argument("--face-driver", default=_DEFAULTS["face_driver"], choices=("network", "phonemes"),
                   help="what moves the mouth: the audio-to-face network or the TTS phoneme timings")
    p.add_argument("--face-backend", default=_DEFAULTS["face_backend"], choices=("auto", "onnxruntime", "tensorrt"))
    p.add_argument("--ice-host", action="append", default=[], metavar="ADDR",
                   help="offer only these host addresses as ICE candidates (repeatable; e.g. 127.0.0.1)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.max_sessions < 1:
        p.error("--max-sessions must be at least 1")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Every ICE candidate check is logged at INFO by aioice: one session would drown the server's own lines.
    logging.getLogger("aioice").setLevel(max(logging.WARNING, logging.getLogger().level))
    return ServerConfig(
        host=args.host,
        port=args.port,
        token=args.token,
        max_sessions=args.max_sessions,
        admit_by_headroom=args.admit_by_headroom,
        tts=args.tts,
        voice=args.voice,
        avatar=args.avatar,
        face_driver=args.face_driver,
        face_backend=args.face_backend,
        ice_hosts=tuple(args.ice_host),
    )


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    try:
        asyncio.run(AvatarServer(config).serve_forever())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
