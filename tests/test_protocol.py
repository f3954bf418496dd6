import json

import pytest

from server.api.messages import (
    Bye,
    Flush,
    Ice,
    Interrupt,
    Offer,
    Set,
    Text,
    encode,
    parse_message,
)
from server.pipeline.errors import ProtocolError

LIMIT = 64 * 1024


def code_of(raw) -> str:
    with pytest.raises(ProtocolError) as info:
        parse_message(raw, LIMIT)
    return info.value.code


@pytest.mark.parametrize(
    "message, expected",
    [
        ({"type": "offer", "sdp": "v=0"}, Offer("v=0")),
        ({"type": "offer", "sdp": "v=0", "avatar": "a", "voice": "v", "mode": "voice"}, Offer("v=0", "a", "v", "voice")),
        ({"type": "text", "text": "hi", "id": "7"}, Text("hi", "7")),
        ({"type": "say", "text": "hi"}, Text("hi", None, flush=True)),
        ({"type": "flush"}, Flush()),
        ({"type": "interrupt"}, Interrupt()),
        ({"type": "set", "voice": "espeak:en-us"}, Set(None, "espeak:en-us")),
        ({"type": "ice", "candidate": None}, Ice(None)),
        ({"type": "bye"}, Bye()),
    ],
)
def test_valid_messages(message, expected):
    assert parse_message(json.dumps(message), LIMIT) == expected


@pytest.mark.parametrize(
    "raw, code",
    [
        ("{not json", "bad_json"),
        ("", "bad_json"),
        ("[1, 2]", "bad_message"),
        ('{"text": "no type"}', "bad_message"),
        ('{"type": 5}', "bad_message"),
        ('{"type": "text"}', "bad_message"),
        ('{"type": "text", "text": 5}', "bad_message"),
        ('{"type": "say", "text": "x", "id": 3}', "bad_message"),
        ('{"type": "offer"}', "bad_message"),
        ('{"type": "offer", "sdp": "x", "mode": "telepathy"}', "bad_message"),
        ('{"type": "set", "avatar": ["a"]}', "bad_message"),
        ('{"type": "ice", "candidate": "x"}', "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        (b'{"type": "bye"}', "bad_message"),
        (json.dumps({"type": "say", "text": "a" * LIMIT}), "too_large"),
        (json.dumps({"type": "say", "text": "é" * (LIMIT // 2 + 10)}), "too_large"),
        ("[" * 50000, "bad_json"),
        ('{"type": "say", "text": "hello \\ud800 world"}', "bad_message"),  # a lone surrogate, escaped
        ('{"type": "say", "text": "fine", "id": "\\udfff"}', "bad_message"),
    ],
)
def test_bad_messages(raw, code):
    assert code_of(raw) == code


def test_events_are_always_utf8_text():
    assert encode({"type": "word", "text": "héllo"}) == '{"type":"word","text":"héllo"}'
    escaped = encode({"type": "speech_ended", "id": "\udfff"})
    assert json.loads(escaped)["id"] == "\udfff" and escaped.encode("utf-8")


def test_error_event_shape():
    error = ProtocolError("bad_json", "nope")
    assert error.event() == {"type": "error", "code": "bad_json", "message": "nope"}


def test_error_messages_stay_short_whatever_was_sent():
    with pytest.raises(ProtocolError) as info:
        parse_message(json.dumps({"type": "x" * 60_000}), LIMIT)
    assert info.value.code == "unknown_type" and len(info.value.message) < 100
    with pytest.raises(ProtocolError) as info:
        parse_message(json.dumps({"type": "offer", "sdp": "v=0", "mode": "y" * 60_000}), LIMIT)
    assert len(info.value.message) < 120


def say_of(char: str, count: int) -> str:
    """A `say` message whose text is `count` times `char`, written as itself (not escaped)."""
    return json.dumps({"type": "say", "text": char * count}, ensure_ascii=False)


@pytest.mark.parametrize("char", ["a", "é", "你", "🙂"], ids=["1-byte", "2-byte", "3-byte", "4-byte"])
def test_the_message_limit_counts_bytes_not_characters(char):
    width, envelope = len(char.encode()), len(say_of(char, 0))
    fits = (LIMIT - envelope) // width  # the most characters whose message stays within the limit
    at_limit, over = say_of(char, fits), say_of(char, fits + 1)
    assert len(at_limit.encode()) <= LIMIT < len(over.encode())
    assert parse_message(at_limit, LIMIT) == Text(char * fits, None, flush=True)
    assert code_of(over) == "too_large"
    if width > 1:
        assert len(over) < LIMIT / 1.9  # far fewer characters than the limit: only counting bytes refuses it
