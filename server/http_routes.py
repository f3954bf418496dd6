"""Plain HTTP on the websocket's port: the browser client's files, /healthz and /metrics, and the access token."""
from __future__ import annotations

import hmac
import json
import mimetypes
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from server.services import Services

WS_PATH = "/ws"
_PROTECTED = (WS_PATH, "/metrics")


def _response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers(
        [("Content-Type", content_type), ("Content-Length", str(len(body))), ("Cache-Control", "no-cache")]
    )
    return Response(status.value, status.phrase, headers, body)


def _text(status: HTTPStatus, text: str) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8")


def token_ok(expected: str | None, query: str) -> bool:
    if expected is None:
        return True
    given = parse_qs(query).get("token", [""])[0]
    return hmac.compare_digest(given.encode(), expected.encode())


def static_file(root: Path, path: str) -> Response:
    """A file under `root`, never outside it."""
    relative = "index.html" if path in ("", "/") else path.lstrip("/")
    target = (root / relative).resolve()
    if root.resolve() not in target.parents or not target.is_file():
        return _text(HTTPStatus.NOT_FOUND, f"not found: {path}\n")
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
        content_type += "; charset=utf-8"
    return _response(HTTPStatus.OK, target.read_bytes(), content_type)


class HttpRoutes:
    def __init__(self, services: Services) -> None:
        self._services = services

    def health(self) -> dict:
        services = self._services
        return {
            "status": "ok",
            "sessions": len(services.sessions),
            "max_sessions": services.config.max_sessions,
            "tts": services.config.tts,
            "face_backend": services.face.backend,
            "face_driver": services.face.name,
            "face_note": getattr(services.face, "note", None),
            "avatars": services.avatars(),
            "voices": services.voices.voices(),
            "default_avatar": services.default_avatar.name,
            "default_voice": services.default_voice,
        }

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        """websockets' process_request hook: None lets the websocket handshake go on."""
        url = urlsplit(request.path)
        if url.path in _PROTECTED and not token_ok(self._services.config.token, url.query):
            return _text(HTTPStatus.UNAUTHORIZED, "missing or wrong access token\n")
        if url.path == WS_PATH:
            return None
        if url.path == "/healthz":
            return _response(HTTPStatus.OK, json.dumps(self.health()).encode(), "application/json")
        if url.path == "/metrics":
            return _response(HTTPStatus.OK, self._services.metrics.render_text(), self._services.metrics.content_type)
        return static_file(self._services.config.client_dir, url.path)
