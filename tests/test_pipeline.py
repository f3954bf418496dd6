"""The session pipeline on its own, with no network and no transport: frames pulled in fake time (a VirtualClock
that moves only when the test says so), their timestamps, the mouth each video frame shows, the events, and an
interrupt."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from engines.resample import resample
from engines.timebase import (
    AUDIO_FRAME_SAMPLES,
    SAMPLES_PER_FRAME,
    TIMELINE_RATE,
    VIDEO_PTS_STEP,
)
from engines.tts.espeak_engine import EspeakEngine
from server.services import Services
from tests.conftest import make_config
from tests.fake_time import AUDIO_S, Run


@pytest.fixture(scope="module")
def services():
    return Services(make_config(tts="espeak"))


async def test_frames_timestamps_mouth_and_events_in_fake_time(services):
    run = Run(services, voice="espeak:en-us")
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
    run = Run(services, voice="espeak:en-us")
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
    media = services.config.media
    # The head eases back to rest over gesture_release_frames: no jump, and still from then on.
    gestures = run.gestures()
    after = round(cut_at * 25) + media.gesture_release_frames + 2
    assert np.abs(np.diff(gestures, axis=0)).max() < 0.6  # a quick nod: about 2 px a frame
    assert not gestures[after:].any()
    # The first frame to leave after the interrupt is drawn again if it was drawn before it, so the mouth is at
    # rest from the release_frames-th frame that leaves after it on.
    first_out = next(n for n in range(len(run.video)) if n * 0.04 - media.encode_lead_s > cut_at)
    assert first_out <= cut_sample // SAMPLES_PER_FRAME + 2
    assert all(run.jaw(n) == 0 for n in range(first_out + media.release_frames - 1, len(run.video)))


async def test_a_live_voice_moves_the_head_as_speech_from_text_does():
    # The phoneme face driver answers at once; the network's inference thread takes real time, which fake time
    # would outrun (voice packets would arrive "late"). Gestures come from the audio either way.
    services = Services(make_config(tts="espeak", face_driver="phonemes"))
    spoken = EspeakEngine().synthesize("Well, I really think we should go there together. What do you say?")
    speech = resample(spoken.pcm, spoken.sample_rate, TIMELINE_RATE)
    silence = np.zeros(TIMELINE_RATE, np.int16)
    run = Run(services, live_voice=np.concatenate([silence, speech, 2 * silence]))
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
