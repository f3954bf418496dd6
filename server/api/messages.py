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
class Chat:
    """The user's message to the LLM (the LLM bridge); the answer is spoken as it streams in."""

    text: str
    id: str | None = None


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


Message = Offer | Text | Chat | Flush | Interrupt | Set | Ice | Bye
MODES = ("text", "voice")


def typed_field(
    obj: dict[str, Any], name: str, kind: type, *, required: bool = False, of: str | None = None
) -> Any:
    """`obj[name]` if it is a `kind` (None when absent and not required), or ProtocolError bad_message; `of` names
    what the field belongs to in the error (default: the message's type)."""
    owner = of or f"'{obj['type']}'"
    value = obj.get(name)
    if value is None:
        if required:
            raise ProtocolError("bad_message", f"{owner} needs the field '{name}'")
        return None
    if not isinstance(value, kind):
        raise ProtocolError("bad_message", f"field '{name}' of {owner} must be a {kind.__name__}")
    return value


def _offer(obj: dict[str, Any]) -> Offer:
    mode = typed_field(obj, "mode", str) or "text"
    if mode not in MODES:
        raise ProtocolError("bad_message", f"'mode' must be one of {', '.join(MODES)}, not {quote(mode)}")
    sdp = typed_field(obj, "sdp", str, required=True)
    return Offer(sdp, typed_field(obj, "avatar", str), typed_field(obj, "voice", str), mode)


def _text(obj: dict[str, Any], flush: bool) -> Text:
    return Text(typed_field(obj, "text", str, required=True), typed_field(obj, "id", str), flush)


def _ice(obj: dict[str, Any]) -> Ice:
    return Ice(typed_field(obj, "candidate", dict))


_PARSERS = {
    "offer": _offer,
    "text": lambda obj: _text(obj, flush=False),
    "say": lambda obj: _text(obj, flush=True),
    "chat": lambda obj: Chat(typed_field(obj, "text", str, required=True), typed_field(obj, "id", str)),
    "flush": lambda obj: Flush(),
    "interrupt": lambda obj: Interrupt(),
    "set": lambda obj: Set(typed_field(obj, "avatar", str), typed_field(obj, "voice", str)),
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
    return parse_object(json_object(raw))


def json_object(raw: str | bytes) -> dict[str, Any]:
    """A JSON object (a message, a request body), or ProtocolError bad_json / bad_message."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_message", "a message must be a JSON object")
    if not _encodable(obj):
        raise ProtocolError("bad_message", "strings must be Unicode text (a lone surrogate is not)")
    return obj


def parse_object(obj: dict[str, Any]) -> Message:
    """A message already decoded from JSON (the HTTP API's bodies take this way too), or ProtocolError."""
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "a message needs a string field 'type'")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ProtocolError("unknown_type", f"unknown message type {quote(kind)}")
    return parser(obj)


def _encodable(obj: dict[str, Any]) -> bool:
    """Whether every string of a parsed object is valid Unicode: JSON's \\ud800 escapes make lone surrogates,
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
