"""The frames agent frameworks take (integrations/media.py): each picture with its own 40 ms of audio, silence in
place of an audio frame the reader lost, and nothing of a picture the reader lost."""
from __future__ import annotations

import numpy as np

from engines.timebase import AUDIO_FRAME_SAMPLES, SAMPLES_PER_FRAME
from integrations.media import media_units
from server.pipeline.bus import FrameBus
from server.pipeline.frames import AudioFrame, VideoFrame


def audio(index: int) -> AudioFrame:
    return AudioFrame(index, np.full(AUDIO_FRAME_SAMPLES, index + 1, np.int16))


def video(index: int) -> VideoFrame:
    return VideoFrame(index, np.zeros((24, 16), np.uint8))


async def test_each_picture_comes_with_its_whole_audio_even_where_a_frame_was_lost():
    bus = FrameBus(audio_depth=16, video_depth=16)
    subscription = bus.subscribe()
    for frame in (audio(0), audio(1), video(0), video(1), audio(3), video(3), audio(6), audio(7)):
        if isinstance(frame, AudioFrame):
            bus.publish_audio(frame)
        else:
            bus.publish_video(frame)
    bus.publish_audio(audio(8))  # proves that frame 3's audio is over
    units = media_units(subscription)
    got = [await anext(units) for _ in range(3)]

    assert [unit.video.index for unit in got] == [0, 1, 3]
    assert all(len(unit.pcm) == SAMPLES_PER_FRAME for unit in got)
    assert [frame.index for frame in got[1].audio] == [2, 3]
    assert not got[1].audio[0].pcm.any() and (got[1].audio[1].pcm == 4).all()  # frame 2 was lost: silence
    assert [frame.index for frame in got[2].audio] == [6, 7] and (got[2].pcm > 0).all()
