"""The broadcast parts on their own: the encoded-packet subscription's keyframe starts and overflow, recording
names, output kinds and what an RTMP URL shows of itself."""
from __future__ import annotations

from fractions import Fraction
from urllib.parse import urlsplit

import pytest

from server.pipeline.errors import ProtocolError
from server.transports.file import recording_name
from server.transports.packets import EncodedPacket, PacketFanout
from server.transports.registry import output_kind
from server.transports.rtmp import public_url

VIDEO, AUDIO = Fraction(1, 90_000), Fraction(1, 48_000)


def video(frame: int, keyframe: bool = False) -> EncodedPacket:
    return EncodedPacket("video", b"v", frame * 3600, frame * 3600, VIDEO, keyframe)


def audio(index: int) -> EncodedPacket:
    return EncodedPacket("audio", b"a", index * 1024, index * 1024, AUDIO, True)


def test_subscription_starts_at_a_keyframe_and_skips_older_audio():
    requests = []
    fanout = PacketFanout()
    subscription = fanout.subscribe(2.0, lambda: requests.append(1))
    fanout.publish([audio(0), video(1), audio(1), video(2, keyframe=True), audio(3), audio(4), video(3)])
    kept = subscription.drain()
    assert kept[0].kind == "video" and kept[0].keyframe and kept[0].time == 0.08
    assert [p for p in kept if p.kind == "audio"] == [audio(4)]  # audio(3) (0.064 s) is older than the keyframe
    subscription.close()
    assert len(fanout) == 0


def test_subscription_that_falls_behind_resumes_at_the_next_keyframe():
    requests = []
    fanout = PacketFanout()
    subscription = fanout.subscribe(1.0, lambda: requests.append(1))
    fanout.publish([video(0, keyframe=True)] + [video(n) for n in range(1, 30)])  # 1.16 s unread: too far behind
    assert subscription.overflows == 1 and requests == [1] and subscription.drain() == []
    fanout.publish([video(30), video(31, keyframe=True), video(32)])
    assert [p.time for p in subscription.drain()] == [31 * 0.04, 32 * 0.04]


@pytest.mark.parametrize("name", ["talk.mp4", "show-2024_01.final.mp4", "A.mp4"])
def test_good_recording_names(name):
    assert recording_name(name) == name


@pytest.mark.parametrize("name", ["../talk.mp4", "a/b.mp4", "a\\b.mp4", "..mp4", "x..y.mp4", ".talk.mp4",
                                  "talk.mov", "talk", "tälk.mp4", "a" * 130 + ".mp4", "talk.mp4\n"])
def test_bad_recording_names(name):
    with pytest.raises(ProtocolError) as refused:
        recording_name(name)
    assert refused.value.code == "bad_output"


@pytest.mark.parametrize("spec", [{"rtmp": "x"}, {"file": "a.mp4", "extra": 1}, {"whip": "https://h/w", "bearer": "t"}])
def test_output_kind(spec):
    assert output_kind(spec) == next(iter(spec))


@pytest.mark.parametrize("spec", [[], "rtmp", None, {}, {"rtmp": "x", "file": "y"}, {"ftp": "x"}])
def test_malformed_output_objects(spec):
    with pytest.raises(ProtocolError) as refused:
        output_kind(spec)
    assert refused.value.code == "bad_output"


def test_public_url_hides_the_stream_key():
    shown = public_url(urlsplit("rtmp://user:pw@live.example.com:1936/app/sk-12345?auth=abc"))
    assert shown == "rtmp://live.example.com:1936/app/…"
