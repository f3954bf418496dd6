"""client.LiveAudioTrack: audio handed over while the track runs goes out in 20 ms frames at real-time pace,
silence fills the gaps, and clear() drops what was not sent yet."""
from __future__ import annotations

import asyncio

import numpy as np

from client import LiveAudioTrack


async def test_pushed_audio_goes_out_paced_with_silence_between_and_clear_drops_the_rest():
    track = LiveAudioTrack(48_000)
    loop = asyncio.get_running_loop()
    speech = np.arange(1, 1441, dtype=np.int16)  # 30 ms
    track.push(speech)
    assert track.queued_samples == 1440
    first_due = track.sent_by()
    frames = [await track.recv() for _ in range(3)]
    samples = [frame.to_ndarray().reshape(-1) for frame in frames]
    np.testing.assert_array_equal(samples[0], speech[:960])
    np.testing.assert_array_equal(samples[1][:480], speech[960:])
    assert not samples[1][480:].any() and not samples[2].any()
    assert [frame.pts for frame in frames] == [0, 960, 1920]
    assert abs(first_due - (track.started_at + 0.04)) < 0.01  # two frames' worth was queued
    assert 0.035 < loop.time() - track.started_at < 0.1  # the third frame waited for its turn

    track.push(np.ones(4800, dtype=np.int16))
    track.clear()
    assert track.queued_samples == 0
    assert not (await track.recv()).to_ndarray().any()
    track.stop()
