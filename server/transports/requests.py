"""What a broadcast's output is built from: the request's output object (docs/protocol.md, "Broadcasts"), checked
field by field, and the broadcast it serves.

Every output class registered in `server/transports/registry.py` builds itself with
`from_request(spec, context) -> Output`, raising `bad_output(...)` for anything malformed; building has no side
effects (nothing is connected or opened before `start`), so a refused request leaves nothing behind.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

from server.config import ServerConfig
from server.pipeline.errors import ProtocolError, quote
from server.transports.base import Output
from server.transports.encoder import BroadcastEncoder


@dataclass(frozen=True)
class OutputContext:
    """The broadcast an output is built for."""

    broadcast_id: str
    config: ServerConfig
    encoder: BroadcastEncoder  # the broadcast's one H.264 + AAC encoder (`subscribe()` for its packets)
    log: logging.LoggerAdapter
    # The process's WebRTC encoders and their threads (server/transports/webrtc/encoders.py Encoding), for the
    # outputs that are WebRTC peers; untyped here, where nothing of WebRTC is imported.
    webrtc_encoding: Any


class RequestedOutput(Protocol):
    """An output class that the broadcast API can build (a registry entry)."""

    @classmethod
    def from_request(cls, spec: Mapping[str, Any], context: OutputContext) -> Output: ...


def bad_output(message: str) -> ProtocolError:
    return ProtocolError("bad_output", message)


def text_field(spec: Mapping[str, Any], name: str, *, required: bool = False, max_chars: int = 2048) -> str | None:
    value = spec.get(name)
    if value is None:
        if required:
            raise bad_output(f"the output needs the field '{name}'")
        return None
    if not isinstance(value, str) or not value:
        raise bad_output(f"the output's field '{name}' must be a non-empty string")
    if len(value) > max_chars:
        raise bad_output(f"the output's field '{name}' is longer than {max_chars} characters")
    return value


def url_field(spec: Mapping[str, Any], name: str, schemes: tuple[str, ...]) -> SplitResult:
    """A required URL field with one of `schemes` and a host."""
    text = text_field(spec, name, required=True)
    try:
        url = urlsplit(text)
        addressed = bool(url.hostname) and url.port != 0  # reading the port raises on a malformed one
    except ValueError:
        raise bad_output(f"'{name}' is not a URL: {quote(text)}") from None
    if url.scheme.lower() not in schemes:
        raise bad_output(f"'{name}' must be a {' or '.join(s + '://' for s in schemes)} URL, not {quote(text)}")
    if not addressed or any(c.isspace() or ord(c) < 32 for c in text):
        raise bad_output(f"'{name}' needs a host, a valid port and no spaces: {quote(text)}")
    return url


def known_fields(spec: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    """Refuse fields an output does not know: a misspelt one ("token" for "bearer") would otherwise be ignored."""
    unknown = sorted(set(spec) - set(fields))
    if unknown:
        raise bad_output(f"unknown fields {', '.join(map(quote, unknown))}; this output takes {', '.join(fields)}")
