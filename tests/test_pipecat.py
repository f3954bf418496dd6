"""The avatar as a Pipecat video service, in a real Pipecat pipeline with no network: the audio of a piper utterance
goes in as TTS frames, 25 pictures a second come out with their audio, the mouth opening with the speech, and an
InterruptionFrame empties the output at once."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
from pipecat.frames.frames import (
    InterruptionFrame,
    OutputImageRawFrame,
    TTSStoppedFrame,
)

from client.lipsync import mouth_opening
from engines.avatar import load_avatar
from engines.timebase import SAMPLES_PER_FRAME, TIMELINE_RATE
from harness.pipecat_pipeline import NS, PipecatRun, Received
from harness.speech import piper_utterance
from integrations.pipecat import AvatarVideoService, RemoteAvatarVideoService
from integrations.runtime import AvatarRuntime

FRAME_S = 0.04
LOUD = 300.0


@pytest.fixture(scope="module")
def runtime():
    return AvatarRuntime()


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


def openings(images: list[Received]) -> np.ndarray:
    box = load_avatar("astronaut").mouth_box
    return np.array([mouth_opening(np.frombuffer(r.frame.image, np.uint8).reshape(512, 512, 3), box) for r in images])


async def test_pipecat_pictures_at_25_fps_with_their_audio_and_the_mouth_moving_with_the_speech(runtime):
    pcm, rate = piper_utterance()
    service = AvatarVideoService(runtime=runtime)
    run = PipecatRun(service)
    await run.start()
    await asyncio.sleep(0.5)
    sent_at = await run.say(pcm, rate)
    await asyncio.sleep(len(pcm) / rate + 1.0)
    await run.finish()

    assert service.size == (512, 512)
    images, audio = run.sink.images(), run.sink.audio()
    assert len(images) > 25 * (len(pcm) / rate + 1.0)
    # Pictures at 25 fps: timestamps on the 40 ms grid, one frame after the other (a stalled event loop on a
    # loaded machine may cost a rare frame), arriving in real time.
    pts = np.array([r.frame.pts for r in images]) / NS
    steps = np.diff(pts) / FRAME_S
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)
    assert np.round(steps).min() >= 1 and np.mean(np.round(steps) == 1) > 0.98
    arrivals = np.array([r.at for r in images])
    lateness = (arrivals - arrivals[0]) - (pts - pts[0])
    assert abs(lateness[-1]) < 0.1 and np.mean(np.abs(lateness) < 0.05) > 0.9  # no drift, a rare stall
    assert all(r.frame.size == (512, 512) and r.frame.format == "RGB" for r in images)

    # Each picture comes with its own 40 ms of audio, straight after it and with its timestamp (where a stalled
    # event loop made the avatar skip ahead, a picture may come without it).
    frames = run.sink.received
    kinds = [type(r.frame) for r in frames]
    for index, received in enumerate(frames[1:], start=1):
        if received in audio:
            picture = frames[index - 1]
            assert kinds[index - 1] is OutputImageRawFrame and picture.frame.pts == received.frame.pts
            assert received.frame.num_frames == SAMPLES_PER_FRAME and received.frame.sample_rate == TIMELINE_RATE
            assert received.at - picture.at < FRAME_S
    assert len(audio) > 0.97 * len(images)

    # The speech came out whole, and started soon after it went in.
    loudness = np.array([rms(r.frame.audio) for r in audio])
    speaking = np.flatnonzero(loudness > LOUD)
    first, last = audio[speaking[0]], audio[speaking[-1]]
    assert first.at - sent_at < 0.3
    assert abs((last.at - first.at) - len(pcm) / rate) < 0.4

    # The mouth opens with the speech and rests in silence; lips and voice within a frame of each other.
    opening = openings(images)
    talking = loudness > LOUD
    # (Conversational amplitude: running speech opens the mouth a few percent of the face, wide only on open vowels.)
    assert opening[talking].mean() > 0.03 and opening[talking].max() > 0.1
    assert opening[: speaking[0] - 2].max() < 0.03
    assert opening[speaking[-1] + 8 :].max() < 0.03
    centred = opening - opening.mean()
    energy = loudness - loudness.mean()
    lags = range(-4, 5)
    score = [np.dot(np.roll(centred, -lag)[4:-4], energy[4:-4]) for lag in lags]
    assert abs(list(lags)[int(np.argmax(score))]) <= 1

    # The end of the turn goes on after its audio, where the output transport expects it.
    stopped = run.sink.of(TTSStoppedFrame)
    assert len(stopped) == 1 and stopped[0].at >= last.at


async def test_pipecat_interruption_empties_the_output_within_a_frame(runtime):
    pcm, rate = piper_utterance()
    run = PipecatRun(AvatarVideoService(runtime=runtime))
    await run.start()
    await asyncio.sleep(0.3)
    await run.say(pcm, rate)
    await asyncio.sleep(1.5)
    await run.send(InterruptionFrame())
    await asyncio.sleep(1.0)
    await run.say(pcm[: rate // 2], rate, context_id="after")  # the bot speaks again after the interruption
    await asyncio.sleep(1.5)
    await run.finish()

    (interrupted,) = run.sink.of(InterruptionFrame)
    cut = interrupted.at
    audio = run.sink.audio()
    before = [r for r in audio if cut - 0.5 <= r.at < cut]
    assert max(rms(r.frame.audio) for r in before) > 1000  # it was speaking
    # Speech leaves the output within 40 ms of pipeline time; after that, silence until it speaks again.
    after = [r for r in audio if cut + 0.04 <= r.at < cut + 0.9]
    assert max(np.abs(np.frombuffer(r.frame.audio, np.int16)).max() for r in after) == 0
    # The mouth eases to rest within a few frames of the cut.
    images = run.sink.images()
    resting = [r for r in images if cut + 0.2 <= r.at < cut + 0.9]
    assert openings(resting).max() < 0.03
    # The turn's end frame was dropped with its audio; the next turn plays and ends normally.
    assert [r.frame.context_id for r in run.sink.of(TTSStoppedFrame)] == ["after"]
    assert max(rms(r.frame.audio) for r in audio if r.at >= cut + 1.0) > 1000


async def test_pipecat_remote_avatar_speaks_the_tts_audio_through_an_avatar_server(ws_url):
    """The same pipeline with the avatar on a server (voice mode over WebRTC on loopback)."""
    pcm, rate = piper_utterance()
    service = RemoteAvatarVideoService(url=ws_url)
    run = PipecatRun(service)
    await run.start()
    await asyncio.sleep(1.0)
    sent_at = await run.say(pcm, rate)
    await asyncio.sleep(len(pcm) / rate + 1.5)
    await run.send(InterruptionFrame())
    await run.say(pcm, rate, context_id="cut")
    await asyncio.sleep(1.0)
    await run.send(InterruptionFrame())
    await asyncio.sleep(1.0)
    await run.finish()

    images, audio = run.sink.images(), run.sink.audio()
    first_cut = run.sink.of(InterruptionFrame)[0].at
    spoken = [r for r in images if sent_at <= r.at < first_cut]
    assert len(spoken) > 20 * (first_cut - sent_at)  # the server's 25 fps, less what the network drops
    loud = [r for r in audio if sent_at <= r.at < first_cut and rms(r.frame.audio) > LOUD]
    heard = sum(r.frame.num_frames for r in loud) / TIMELINE_RATE
    assert heard > 0.6 * len(pcm) / rate  # the voice came back (its pauses are quiet)
    assert loud[0].at - sent_at < 0.8
    opening = openings(spoken)
    # Resting before the voice came back, then talking: voice mode's network, made for human speech, opens the mouth
    # less on TTS audio than text mode's (its widest here 0.09-0.1 of the mouth box, against 0.007 at rest).
    assert opening.max() > 0.06 and opening[:5].max() < 0.03

    # The second turn is interrupted a second in: the returned voice falls silent.
    second_cut = run.sink.of(InterruptionFrame)[1].at
    assert max(rms(r.frame.audio) for r in audio if second_cut - 0.6 <= r.at < second_cut) > LOUD
    assert max(rms(r.frame.audio) for r in audio if second_cut + 0.4 <= r.at < second_cut + 1.0) < 50
