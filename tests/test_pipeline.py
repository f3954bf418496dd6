"""The session pipeline on its own, with no network and no transport: frames pulled in fake time (a VirtualClock
that moves only when the test says so), their timestamps, the mouth each video frame shows, the events, and an
interrupt."""
from __future__ import annotations

import asyncio
import dataclasses
import logging

import numpy as np
import pytest

from engines.avatar.base import RendererEngine, SessionRenderer
from engines.avatar.bundle import AvatarBundle
from engines.timebase import (
    AUDIO_FRAME_SAMPLES,
    MOUTH_PARAMS,
    SAMPLES_PER_FRAME,
    TIMELINE_RATE,
    VIDEO_PTS_STEP,
)
from server.pipeline.bus import Subscription
from server.pipeline.clock import VirtualClock
from server.pipeline.session import SessionPipeline
from server.services import Services
from tests.conftest import make_config

JAW = MOUTH_PARAMS.index("jaw_open")
AUDIO_S = AUDIO_FRAME_SAMPLES / TIMELINE_RATE


class RecordingRenderer(SessionRenderer):
    """Draws nothing; remembers the mouth parameters each frame was asked to show."""

    def __init__(self, bundle: AvatarBundle, shown: dict[int, np.ndarray]) -> None:
        self.bundle = bundle
        self._shown = shown

    async def render(self, frame_index: int, params: np.ndarray) -> np.ndarray:
        self._shown[frame_index] = np.array(params)
        width, height = self.bundle.size
        return np.zeros((height * 3 // 2, width), np.uint8)


class RecordingEngine(RendererEngine):
    name = "recording"

    def __init__(self) -> None:
        self.shown: dict[int, np.ndarray] = {}

    def prepare(self, bundle: AvatarBundle) -> None:
        pass

    def open(self, bundle: AvatarBundle, seed: int) -> RecordingRenderer:
        return RecordingRenderer(bundle, self.shown)


@pytest.fixture(scope="module")
def services():
    return Services(make_config(tts="espeak"))


class Run:
    """A text-mode pipeline, its one subscriber, and the fake clock that drives it."""

    def __init__(self, services: Services) -> None:
        self.renderer = RecordingEngine()
        resources = dataclasses.replace(services.pipeline, renderers=self.renderer)
        self.clock = VirtualClock()
        self.pipeline = SessionPipeline(
            resources,
            avatar=services.default_avatar,
            voice="espeak:en-us",
            log=logging.LoggerAdapter(logging.getLogger("test"), {}),
            clock=self.clock,
        )
        self.events: list[tuple[float, dict]] = []
        self.pipeline.events.listen(lambda event: self.events.append((self.clock.now(), event)))
        self.subscription: Subscription = self.pipeline.subscribe()
        self.audio: list = []
        self.video: list = []
        self.pipeline.start()

    async def run_until(self, seconds: float) -> None:
        """Move session time to `seconds` in 20 ms steps, taking every frame due on the way."""
        while self.clock.now() + AUDIO_S / 2 < seconds:
            self.clock.advance_to(self.clock.now() + AUDIO_S)
            async with asyncio.timeout(10):
                while len(self.audio) * AUDIO_S <= self.clock.now():
                    self.audio.append(await self.subscription.audio())
                while len(self.video) * 0.04 <= self.clock.now():
                    self.video.append(await self.subscription.video())

    def types(self) -> list[str]:
        return [event["type"] for _, event in self.events]

    def jaw(self, frame: int) -> float:
        return float(self.renderer.shown[frame][JAW])

    async def close(self) -> None:
        self.subscription.close()
        await self.pipeline.close()


async def test_frames_timestamps_mouth_and_events_in_fake_time(services):
    run = Run(services)
    try:
        await run.run_until(0.5)  # idle
        run.pipeline.text("Hello there, nice to meet you.", id="hi", flush=True)
        await run.pipeline.speaker.synthesized()  # real time passes, session time stands still
        await run.run_until(5.0)
    finally:
        await run.close()

    assert [f.pts for f in run.audio] == [k * AUDIO_FRAME_SAMPLES for k in range(len(run.audio))]
    assert [f.pts for f in run.video] == [n * VIDEO_PTS_STEP for n in range(len(run.video))]
    assert all(len(f.pcm) == AUDIO_FRAME_SAMPLES for f in run.audio)
    assert abs(len(run.audio) - 2 * len(run.video)) <= 1

    types = run.types()
    assert types[0] == "speech_started" and types[-1] == "speech_ended" and "word" in types
    (started_at, started), (ended_at, ended) = run.events[0], run.events[-1]
    assert started["id"] == "hi" and ended["interrupted"] is False
    assert ended["spoken_text"] == "Hello there, nice to meet you."

    pcm = np.concatenate([f.pcm for f in run.audio])
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 500)
    first, last = loud[0] / TIMELINE_RATE, loud[-1] / TIMELINE_RATE
    # speech_started fires with the audio frame that holds the first sample: sound begins within that frame.
    assert started_at - AUDIO_S <= first <= started_at + 2 * AUDIO_S, (started_at, first)
    assert ended_at + AUDIO_S >= last  # ...and speech_ended with the frame that holds the last
    assert np.abs(pcm[: int(0.5 * TIMELINE_RATE)]).max() == 0  # silence before anything was said

    speaking = range(int(first * 25) + 2, int(last * 25) - 2)
    assert max(run.jaw(n) for n in speaking) > 0.3
    assert np.mean([run.jaw(n) for n in speaking]) > 0.1
    assert all(run.jaw(n) == 0 for n in range(int(0.5 * 25)))  # rest before speech
    assert all(run.jaw(n) < 0.02 for n in range(int(last * 25) + 8, len(run.video)))  # rest after it


async def test_interrupt_in_fake_time(services):
    run = Run(services)
    try:
        run.pipeline.text("This sentence is long enough to be cut off well before its end, as we shall see.", flush=True)
        await run.pipeline.speaker.synthesized()
        await run.run_until(1.5)
        assert "speech_started" in run.types()
        cut_at = run.clock.now()
        run.pipeline.interrupt(asyncio.get_running_loop().time())
        assert run.types()[-1] == "speech_ended" and run.events[-1][1]["interrupted"] is True
        heard = run.events[-1][1]["spoken_text"]
        await run.run_until(3.0)
    finally:
        await run.close()

    assert 0 < len(heard.split()) < 16
    cut_sample = round(cut_at * TIMELINE_RATE)
    pcm = np.concatenate([f.pcm for f in run.audio])
    fade = round(services.config.media.interrupt_fade_s * TIMELINE_RATE)
    assert np.abs(pcm[cut_sample + fade + AUDIO_FRAME_SAMPLES :]).max() == 0  # silent after the fade
    # The first frame to leave after the interrupt is drawn again if it was drawn before it, so the mouth is at
    # rest from the release_frames-th frame that leaves after it on.
    media = services.config.media
    first_out = next(n for n in range(len(run.video)) if n * 0.04 - media.encode_lead_s > cut_at)
    assert first_out <= cut_sample // SAMPLES_PER_FRAME + 2
    assert all(run.jaw(n) == 0 for n in range(first_out + media.release_frames - 1, len(run.video)))
