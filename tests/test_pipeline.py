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
    GESTURE_PARAMS,
    MOUTH_PARAMS,
    N_FRAME_PARAMS,
    N_PARAMS,
    SAMPLES_PER_FRAME,
    TIMELINE_RATE,
    VIDEO_PTS_STEP,
)
from engines.resample import resample
from engines.tts.espeak_engine import EspeakEngine
from server.pipeline.bus import Subscription
from server.pipeline.clock import VirtualClock
from server.pipeline.session import SessionPipeline
from server.pipeline.voice_input import VoiceChunk
from server.services import Services
from tests.conftest import make_config

JAW = MOUTH_PARAMS.index("jaw_open")
NOD = N_PARAMS + GESTURE_PARAMS.index("head_nod")
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
    """A text-mode (or, given a voice, voice-mode) pipeline, its one subscriber, and the fake clock that drives it."""

    def __init__(self, services: Services, voice: np.ndarray | None = None) -> None:
        self.renderer = RecordingEngine()
        resources = dataclasses.replace(services.pipeline, renderers=self.renderer)
        self.clock = VirtualClock()
        self.pipeline = SessionPipeline(
            resources,
            avatar=services.default_avatar,
            voice="espeak:en-us",
            log=logging.LoggerAdapter(logging.getLogger("test"), {}),
            voice_input=None if voice is None else self._arriving(voice),
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

    async def _arriving(self, pcm: np.ndarray):
        """A client's voice in 20 ms packets, each arriving when session time reaches it."""
        for k in range(len(pcm) // AUDIO_FRAME_SAMPLES):
            await self.clock.sleep_until((k + 1) * AUDIO_S)
            yield VoiceChunk(k * AUDIO_FRAME_SAMPLES, pcm[k * AUDIO_FRAME_SAMPLES: (k + 1) * AUDIO_FRAME_SAMPLES])

    def types(self) -> list[str]:
        return [event["type"] for _, event in self.events]

    def jaw(self, frame: int) -> float:
        return float(self.renderer.shown[frame][JAW])

    def gestures(self) -> np.ndarray:
        """(frames, N_GESTURES): the head and brow parameters every frame was shown."""
        shown = self.renderer.shown
        assert all(len(shown[n]) == N_FRAME_PARAMS for n in shown)
        return np.array([shown[n][N_PARAMS:] for n in range(len(shown))])

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
    # The head and brows move with the speech, only with it, and never jump.
    gestures = run.gestures()
    assert not gestures[: int(0.5 * 25)].any()
    assert np.abs(gestures[speaking.start: speaking.stop + 10]).max() > 0.2
    assert np.abs(np.diff(gestures, axis=0)).max() < 0.6  # a quick nod: about 2 px a frame
    assert np.abs(gestures[-1]).max() < 0.05, "at rest again when the speech is over"


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
    # The head eases back to rest over gesture_release_frames: no jump, and still from then on.
    gestures = run.gestures()
    after = round(cut_at * 25) + services.config.media.gesture_release_frames + 2
    assert np.abs(np.diff(gestures, axis=0)).max() < 0.6  # a quick nod: about 2 px a frame
    assert not gestures[after:].any()
    cut_frame = cut_sample // SAMPLES_PER_FRAME
    rest_by = cut_frame + 1 + services.config.media.release_frames
    assert all(run.jaw(n) == 0 for n in range(rest_by, len(run.video)))


async def test_a_live_voice_moves_the_head_as_speech_from_text_does():
    # The phoneme face driver answers at once; the network's inference thread takes real time, which fake time
    # would outrun (voice packets would arrive "late"). Gestures come from the audio either way.
    services = Services(make_config(tts="espeak", face_driver="phonemes"))
    spoken = EspeakEngine().synthesize("Well, I really think we should go there together. What do you say?")
    speech = resample(spoken.pcm, spoken.sample_rate, TIMELINE_RATE)
    silence = np.zeros(TIMELINE_RATE, np.int16)
    run = Run(services, voice=np.concatenate([silence, speech, 2 * silence]))
    try:
        await run.run_until(len(speech) / TIMELINE_RATE + 3.0)
    finally:
        await run.close()
    gestures = run.gestures()
    delay = run.pipeline.performer.delay / TIMELINE_RATE
    before = int((1.0 + delay) * 25) - 2
    assert not gestures[:before].any(), "still before the voice"
    assert np.abs(gestures[before:, 0]).max() > 0.2, "the head nods with the voice"
    assert np.abs(np.diff(gestures, axis=0)).max() < 0.6
    assert np.abs(gestures[-1]).max() < 0.05, "at rest once the voice has stopped"
