"""End to end over real WebRTC on loopback: a `say` becomes speech audio, lip motion and events at the client."""
from __future__ import annotations

import asyncio
import time

import numpy as np

from client import AvatarClient
from engines.avatar import load_avatar
from tests.media_checks import audio_rms, fps, loud_frames, mouth_change, mouth_darkness

SENTENCE = "Hello there, my name is Joe. I am glad to meet you today."


async def connect(ws_url: str, **kwargs) -> AvatarClient:
    client = await AvatarClient.connect(ws_url, keep_video=True, **kwargs)
    await client.wait_for_media(timeout=15)
    return client


async def test_say_streams_speech_lips_and_events_in_order(server, ws_url):
    client = await connect(ws_url)
    try:
        await asyncio.sleep(1.5)  # idle
        idle_end = time.monotonic()
        await client.say(SENTENCE, id="greeting")
        started = await client.wait_for("speech_started")
        ended = await client.wait_for("speech_ended", timeout=20)
        await asyncio.sleep(0.5)
    finally:
        await client.close()

    assert started["utterance"] == 1 and started["id"] == "greeting"
    assert ended["utterance"] == 1 and ended["id"] == "greeting" and ended["interrupted"] is False
    assert ended["spoken_text"] == SENTENCE

    kinds = [e["type"] for e in client.events if e["type"] in ("speech_started", "word", "speech_ended")]
    assert kinds[0] == "speech_started" and kinds[-1] == "speech_ended"
    words = [e for e in client.events if e["type"] == "word"]
    assert [w["text"].strip(".,").lower() for w in words] == [w.strip(".,").lower() for w in SENTENCE.split()]
    starts = [w["start_ms"] for w in words]
    assert starts == sorted(starts) and all(w["end_ms"] >= w["start_ms"] for w in words)
    spoken_ms = (ended["_at"] - started["_at"]) * 1000
    assert 1500 < spoken_ms < 8000
    assert words[-1]["end_ms"] <= spoken_ms + 200

    speaking = (started["_at"], ended["_at"])
    assert audio_rms(client.audio, idle_end - 1.0, idle_end) < 50
    assert audio_rms(client.audio, *speaking) > 800
    assert loud_frames(client.audio, *speaking) > 0.3 * (speaking[1] - speaking[0]) / 0.02

    assert 20 <= fps(client.video_times, idle_end - 1.2, ended["_at"]) <= 27  # loose: shared CI cores

    box = load_avatar(server.config.avatar).mouth_box
    idle_motion = np.median(mouth_change(client.video, box, idle_end - 1.2, idle_end))
    speech_motion = np.median(mouth_change(client.video, box, *speaking))
    assert speech_motion > 3 * idle_motion + 0.5, (speech_motion, idle_motion)


async def test_media_timestamps_follow_one_clock(server, ws_url):
    client = await connect(ws_url)
    try:
        await client.say("Testing the clock.")
        await client.wait_for("speech_ended", timeout=15)
    finally:
        await client.close()
    audio_steps = np.diff([a.pts for a in client.audio])
    video_steps = np.diff([pts for _, pts in client.video_times])
    assert np.median(audio_steps) == 960
    assert np.median(video_steps) == 3600


async def test_interrupt_silences_audio_and_rests_mouth_quickly(server, ws_url):
    client = await connect(ws_url)
    long_text = " ".join(["This sentence keeps going so that there is plenty of speech to interrupt."] * 4)
    try:
        await asyncio.sleep(1.5)
        idle = (time.monotonic() - 1.0, time.monotonic())
        await client.say(long_text, id="long")
        started = await client.wait_for("speech_started")
        await asyncio.sleep(1.5)
        sent = time.monotonic()
        await client.interrupt()
        ended = await client.wait_for("speech_ended", timeout=5)
        await asyncio.sleep(1.0)
        await client.say("And now something else.")
        second = await client.wait_for("speech_ended", timeout=15)
    finally:
        await client.close()

    assert ended["interrupted"] is True and ended["id"] == "long"
    heard = ended["spoken_text"]
    assert heard and long_text.startswith(heard.rstrip(".,")) and len(heard) < len(long_text) / 2
    assert ended["_at"] - sent < 0.5
    assert audio_rms(client.audio, started["_at"], sent) > 800
    # Allow for the client's jitter buffer and packet transit, then expect silence and a closed mouth.
    assert audio_rms(client.audio, sent + 0.15, sent + 1.0) < 50
    box = load_avatar(server.config.avatar).mouth_box
    at_rest = max(mouth_darkness(client.video, box, *idle))
    assert max(mouth_darkness(client.video, box, started["_at"], sent)) > at_rest + 0.03
    assert max(mouth_darkness(client.video, box, sent + 0.2, sent + 1.0)) < at_rest + 0.01
    assert second["utterance"] == 2 and second["interrupted"] is False
