"""A face at rest is drawn every few frames and shown in between: the same picture as drawing each frame with
the head where it was at the last drawn one, while speech, blinks and glances are drawn every frame."""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar import load_avatar
from engines.avatar.base import RendererOptions
from engines.avatar.renderer import AvatarRenderer
from engines.avatar.warp_engine import WarpRendererEngine

REST = np.zeros(5, dtype=np.float32)


async def test_resting_frames_repeat_the_last_drawn_motion_and_speech_is_drawn_every_frame():
    engine = WarpRendererEngine(RendererOptions(threads=1, idle_motion_every=3))
    bundle = load_avatar("astronaut")
    session = engine.open(bundle, seed=7)
    reference = AvatarRenderer(bundle, seed=7)
    try:
        frames = [i for i in range(200) if reference.idle.blink(i) == 0][:9]
        pictures = [await session.render(i, REST) for i in frames]
        for index, picture in zip(frames, pictures):
            expected = reference.render(index, REST, motion_frame=index - index % 3)
            assert np.array_equal(picture, cv2.cvtColor(expected, cv2.COLOR_RGB2YUV_I420))
        held = [frames.index(i) for i in frames if i % 3 != 0 and i - 1 in frames]
        assert held and all(pictures[k] is pictures[k - 1] for k in held), "not drawn again"
        talking = np.array([0.6, 0.2, 0, 0, 0], dtype=np.float32)
        first, second = await session.render(300, talking), await session.render(301, talking)
        assert first is not second and not np.array_equal(first, second)
        blinking = next(i for i in range(400, 800) if reference.idle.blink(i) > 0.5)
        assert not np.array_equal(await session.render(blinking, REST), await session.render(blinking - 30, REST))
        idle = reference.idle
        glance = next(i for i in range(1000, 5000) if i % 3 and idle.gaze(i) != idle.gaze(i - 1)
                      and idle.blink(i) == 0 and idle.blink(i - 1) == 0)
        before, after = await session.render(glance - 1, REST), await session.render(glance, REST)
        assert after is not before, "the eyes move on time, between two moves of the head"
        expected = reference.render(glance, REST, motion_frame=glance - glance % 3)
        assert np.array_equal(after, cv2.cvtColor(expected, cv2.COLOR_RGB2YUV_I420))
    finally:
        await engine.close()
