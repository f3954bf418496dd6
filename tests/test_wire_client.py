"""The load client's no-decode mode: RTP packets are stamped on arrival, video frames counted by RTP timestamp,
speech seen in the audio-level extension, and nothing is ever decoded."""
from __future__ import annotations

import asyncio
import time

import pytest

from client import AvatarClient
from client.wire import SILENT_DBOV, frame_arrivals, loud
from harness.measure import FRAME_PTS, video_stats

SPEECH_DBOV = 60


@pytest.mark.parametrize("server_options", [{"tts": "espeak"}])
async def test_no_decode_client_counts_frames_and_hears_speech_on_the_wire(ws_url):
    client = await AvatarClient.connect(ws_url, decode=False)
    try:
        await client.wait_for_media()
        began = time.monotonic()
        await client.say("Hello there, nothing here is decoded.")
        await client.wait_for("speech_ended", timeout=30)
        await asyncio.sleep(0.5)
        ended = time.monotonic()
    finally:
        await client.close()

    assert client.audio == [] and client.video == [], "no frame was decoded"
    video = client.wire["video"].arrivals
    assert frame_arrivals(video) == client.video_times
    stamps = [pts for _, pts in client.video_times]
    assert stamps == sorted(stamps) and all(pts % FRAME_PTS == 0 for pts in stamps), "frames on the 90 kHz grid"
    stats = video_stats(client.video_times, began, ended)
    assert 20 <= stats.fps <= 30 and stats.missing <= 0.05 * stats.frames, stats

    audio = client.wire["audio"].arrivals
    steps = {b.timestamp - a.timestamp for a, b in zip(audio, audio[1:])}
    assert steps == {960}, f"one 20 ms packet after the other: {sorted(steps)[:5]}"
    before = [a for a in audio if a.at < began]
    assert before and all(a.level_dbov == SILENT_DBOV for a in before), "silence before the text"
    speech = [a for a in audio if a.at >= began and loud(a, SPEECH_DBOV)]
    assert len(speech) >= 25, "at least half a second of speech on the wire"
