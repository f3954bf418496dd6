"""Audio mode in fake time: speech audio made elsewhere (as an agent framework's TTS hands it over) placed on the
timeline, the mouth the face network computes for every frame of it, whether it comes in a burst or trickles in at
real-time speed, the marks that tell an output when handed-over audio has played, and an interrupt."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from engines.face.base import FaceStream
from engines.timebase import (
    AUDIO_FRAME_SAMPLES,
    N_PARAMS,
    SAMPLES_PER_FRAME,
    TIMELINE_RATE,
)
from harness.speech import chunks, piper_utterance_48k, speech_bounds
from server.pipeline.errors import ProtocolError
from server.services import Services
from tests.conftest import make_config
from tests.fake_time import AUDIO_S, Run


@pytest.fixture(scope="module")
def services():
    return Services(make_config(tts="espeak"))


async def reference_mouth(face: FaceStream, start: int, pcm: np.ndarray) -> dict[int, np.ndarray]:
    """The mouth the network gives each frame of `pcm` placed at `start`, computed in one go."""
    face.reset(start)
    frames = await face.push(pcm)
    tail = await face.flush()
    params = np.concatenate([frames.params, tail.params])
    return {frames.first_frame + i: params[i] for i in range(len(params))}


def speech_frames(start: int, pcm: np.ndarray) -> range:
    """Video frames whose centre lies inside the audio's own speech (not its leading or trailing silence)."""
    first, last = speech_bounds(pcm)
    return range((start + first) // SAMPLES_PER_FRAME + 1, (start + last) // SAMPLES_PER_FRAME)


def placed_start(run: Run, pcm: np.ndarray) -> int:
    """Where the audio landed on the timeline, found by matching its speech in what was played."""
    played = run.pcm()
    first, _ = speech_bounds(pcm)
    return speech_bounds(played)[0] - first


async def test_audio_in_a_burst_starts_after_the_speech_lead_with_the_networks_mouth(services):
    run = Run(services, audio_input=True)
    pcm = piper_utterance_48k()
    try:
        await run.run_until(0.5)
        arrived = run.pipeline.media.played  # the audio playing now went out already
        for chunk in chunks(pcm, 480):  # 10 ms pieces, all at once, as a TTS engine pushes a synthesized sentence
            run.pipeline.audio(chunk, id="greeting")
        run.pipeline.flush()
        await run.pipeline.audio_speaker.placed()
        await run.run_until(0.5 + len(pcm) / TIMELINE_RATE + 1.0)
        start = placed_start(run, pcm)
        reference = await reference_mouth(services.face.open_stream(), start, pcm)
    finally:
        await run.close()

    lead = round(services.config.media.speech_lead_s * TIMELINE_RATE)
    assert start == arrived + lead
    np.testing.assert_array_equal(run.pcm()[start : start + len(pcm)], pcm)
    assert run.types() == ["speech_started", "speech_ended"]
    (started_at, started), (ended_at, ended) = run.events
    assert started["id"] == ended["id"] == "greeting" and ended["interrupted"] is False
    assert abs(started_at - start / TIMELINE_RATE) <= AUDIO_S
    assert abs(ended_at - (start + len(pcm)) / TIMELINE_RATE) <= AUDIO_S

    speaking = speech_frames(start, pcm)
    for frame in speaking:
        np.testing.assert_allclose(run.renderer.shown[frame][:N_PARAMS], reference[frame], atol=1e-3)
    assert max(run.jaw(n) for n in speaking) > 0.3
    assert all(run.jaw(n) == 0 for n in range(start // SAMPLES_PER_FRAME - 1))
    after = (start + speech_bounds(pcm)[1]) // SAMPLES_PER_FRAME + 8
    assert all(run.jaw(n) < 0.02 for n in range(after, len(run.video)))


async def test_audio_trickling_in_at_real_time_speed_has_every_mouth_frame_in_time(services):
    """20 ms pieces, each arriving as its own 20 ms pass (a TTS that streams at real-time speed): the first waits
    for the face network's look-ahead and the margin, then no frame is drawn without the network's mouth."""
    run = Run(services, audio_input=True)
    pcm = piper_utterance_48k()
    try:
        await run.run_until(0.3)
        arrived = run.pipeline.media.played
        for chunk in chunks(pcm, AUDIO_FRAME_SAMPLES):
            run.pipeline.audio(chunk)
            await run.pipeline.audio_speaker.placed()
            await run.step()
        # No flush: the utterance stays open, and its last frames come out all the same.
        await run.run_until(run.clock.now() + 1.0)
        assert run.pipeline.speaking
        start = placed_start(run, pcm)
        reference = await reference_mouth(services.face.open_stream(), start, pcm)
    finally:
        await run.close()

    settings, media = services.config.audio_input, services.config.media
    wait = services.face.open_stream().lookahead_samples + round(settings.audio_margin_s * TIMELINE_RATE)
    lead = round(media.speech_lead_s * TIMELINE_RATE)
    assert arrived + lead + wait - AUDIO_FRAME_SAMPLES <= start <= arrived + lead + wait + 2 * AUDIO_FRAME_SAMPLES
    np.testing.assert_array_equal(run.pcm()[start : start + len(pcm)], pcm)
    for frame in speech_frames(start, pcm):
        np.testing.assert_allclose(run.renderer.shown[frame][:N_PARAMS], reference[frame], atol=1e-3)
    assert run.types() == ["speech_started"]


async def test_marks_resolve_where_the_handed_over_audio_ends(services):
    run = Run(services, audio_input=True)
    pcm = piper_utterance_48k()[: TIMELINE_RATE]
    try:
        idle = run.pipeline.audio_speaker.mark()
        await run.run_until(0.2)
        assert idle.done() and idle.result() == 0
        run.pipeline.audio(pcm)
        first = run.pipeline.audio_speaker.mark()
        run.pipeline.audio(pcm)
        run.pipeline.flush()
        second = run.pipeline.audio_speaker.mark()
        await run.pipeline.audio_speaker.placed()
        start = first.result() - len(pcm)
        assert second.result() == first.result() + len(pcm)
        assert run.pipeline.audio_speaker.speech.overlaps(start, start + 1)
        assert not run.pipeline.audio_speaker.speech.overlaps(start - AUDIO_FRAME_SAMPLES, start)
        await run.run_until(1.0)
        cut_at = run.pipeline.media.played
        run.pipeline.audio(pcm)
        pending = run.pipeline.audio_speaker.mark()
        run.pipeline.interrupt(asyncio.get_running_loop().time())
        fade = round(services.config.media.interrupt_fade_s * TIMELINE_RATE)
        assert pending.done() and pending.result() == cut_at + fade  # everything handed over stops there
        await run.run_until(2.5)
    finally:
        await run.close()

    # The first utterance was still playing, the second never started: the interrupt ends both.
    assert run.types() == ["speech_started", "speech_ended", "speech_ended"]
    assert [event["utterance"] for _, event in run.events] == [1, 1, 2]
    assert all(event["interrupted"] for _, event in run.events[1:])
    assert np.abs(run.pcm()[cut_at + fade :]).max() == 0
    rest_by = cut_at // SAMPLES_PER_FRAME + 1 + services.config.media.release_frames
    assert all(run.jaw(n) == 0 for n in range(rest_by, len(run.video)))
    assert not run.pipeline.speaking


async def test_audio_mode_takes_no_text(services):
    """(Text mode takes audio too: a recording spoken in turn with the text, tests/test_livetalking.py.)"""
    run = Run(services, audio_input=True)
    try:
        assert run.pipeline.mode == "audio"
        with pytest.raises(ProtocolError):
            run.pipeline.text("hello")
        run.pipeline.audio(np.zeros(0, np.int16))  # nothing to say: no utterance
        run.pipeline.flush()
        await run.run_until(0.2)
        assert run.events == [] and not run.pipeline.speaking
    finally:
        await run.close()

