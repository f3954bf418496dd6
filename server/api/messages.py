"""The session websocket's client messages (docs/protocol.md): parsed into typed objects. Every way a message can
be wrong ends in a `ProtocolError` carrying a documented code."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from server.pipeline.errors import ProtocolError, quote


@dataclass(frozen=True)
class Offer:
    sdp: str
    avatar: str | None = None
    voice: str | None = None
    mode: str = "text"


@dataclass(frozen=True)
class Text:
    """A text delta; `flush` is set for `say`, which is `text` then `flush` in one message."""

    text: str
    id: str | None = None
    flush: bool = False


@dataclass(frozen=True)
class Flush:
    pass


@dataclass(frozen=True)
class Interrupt:
    pass


@dataclass(frozen=True)
class Set:
    avatar: str | None = None
    voice: str | None = None


@dataclass(frozen=True)
class Ice:
    candidate: dict[str, Any] | None


@dataclass(frozen=True)
class Bye:
    pass


Message = Offer | Text | Flush | Interrupt | Set | Ice | Bye
MODES = ("text", "voice")


def _field(obj: dict[str, Any], name: str, kind: type, *, required: bool = False) -> Any:
    value = obj.get(name)
    if value is None:
        if required:
            raise ProtocolError("bad_message", f"'{obj['type']}' needs the field '{name}'")
        return None
    if not isinstance(value, kind):
        raise ProtocolError("bad_message", f"field '{name}' of '{obj['type']}' must be a {kind.__name__}")
    return value


def _offer(obj: dict[str, Any]) -> Offer:
    mode = _field(obj, "mode", str) or "text"
    if mode not in MODES:
        raise ProtocolError("bad_message", f"'mode' must be one of {', '.join(MODES)}, not {quote(mode)}")
    return Offer(_field(obj, "sdp", str, required=True), _field(obj, "avatar", str), _field(obj, "voice", str), mode)


def _text(obj: dict[str, Any], flush: bool) -> Text:
    return Text(_field(obj, "text", str, required=True), _field(obj, "id", str), flush)


def _ice(obj: dict[str, Any]) -> Ice:
    return Ice(_field(obj, "candidate", dict))


_PARSERS = {
    "offer": _offer,
    "text": lambda obj: _text(obj, flush=False),
    "say": lambda obj: _text(obj, flush=True),
    "flush": lambda obj: Flush(),
    "interrupt": lambda obj: Interrupt(),
    "set": lambda obj: Set(_field(obj, "avatar", str), _field(obj, "voice", str)),
    "ice": _ice,
    "bye": lambda obj: Bye(),
}


def over_limit(text: str, max_bytes: int) -> bool:
    """Whether `text` takes more than `max_bytes` bytes in UTF-8. Its length alone decides when it can (more
    characters than bytes allowed; or at most a quarter as many, at 4 bytes a character at most), so a large
    frame is refused without encoding it."""
    if len(text) > max_bytes or 4 * len(text) <= max_bytes:
        return len(text) > max_bytes
    return len(text.encode("utf-8", "surrogatepass")) > max_bytes


def parse_message(raw: str | bytes, max_bytes: int) -> Message:
    """Turn one websocket frame into a message, or raise ProtocolError."""
    if isinstance(raw, bytes):
        raise ProtocolError("bad_message", "binary frames are not accepted: send JSON text frames")
    if over_limit(raw, max_bytes):
        raise ProtocolError("too_large", f"message over {max_bytes} bytes")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_message", "a message must be a JSON object")
    if not _encodable(obj):
        raise ProtocolError("bad_message", "a message's strings must be Unicode text (a lone surrogate is not)")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "a message needs a string field 'type'")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ProtocolError("unknown_type", f"unknown message type {quote(kind)}")
    return parser(obj)


def _encodable(obj: dict[str, Any]) -> bool:
    """Whether every string of a parsed message is valid Unicode: JSON's \\ud800 escapes make lone surrogates,
    which no UTF-8 text (an event echoing an id, a TTS engine) can carry."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encode(event: dict[str, Any]) -> str:
    """An event as a text frame (UTF-8 as it is; a string that UTF-8 cannot carry is escaped instead)."""
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(event, separators=(",", ":"))
    return text
