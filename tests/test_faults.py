"""Engines that fail: a TTS engine that raises or hangs in the middle of an utterance costs that phrase and an
`error` event, never the session; a face network that fails hands the mouth to the phoneme driver, logged."""
from __future__ import annotations

import asyncio
import logging
import threading
import time

import numpy as np
import pytest

from client import AvatarClient
from engines.avatar import load_avatar
from engines.face.backends.base import DEFAULT_MODEL
from engines.face.backends.onnxruntime_backend import OnnxRuntimeBackend
from engines.face.batcher import InferenceBatcher
from engines.face.fallback import FallbackFaceStream
from engines.face.network_driver import NetworkFaceStream
from engines.face.phoneme_driver import PhonemeFaceStream
from engines.resample import resample
from engines.timebase import SAMPLES_PER_FRAME, TIMELINE_RATE
from engines.tts import registry
from engines.tts.base import Speech, SynthesisOptions
from engines.tts.espeak_engine import EspeakEngine
from tests.media_checks import mouth_change

RAISE_WORD = "explode"
HANG_WORD = "freeze"
_release_hung = threading.Event()


class FaultyEngine(EspeakEngine):
    """Real espeak-ng speech, except for phrases with a marker word: those raise, or hang until released."""

    name = "faulty"

    def synthesize(self, text: str, voice: str | None = None, *, options: SynthesisOptions | None = None) -> Speech:
        if RAISE_WORD in text:
            raise RuntimeError("synthesizer crashed")
        if HANG_WORD in text:
            _release_hung.wait(60)
        return super().synthesize(text, voice, options=options)


@pytest.fixture(autouse=True)
def faulty_engine(monkeypatch) -> None:
    monkeypatch.setitem(registry.ENGINES, "faulty", f"{__name__}:FaultyEngine")


@pytest.fixture
def server_options() -> dict:
    return {"tts": "faulty", "limits": {"tts_timeout_s": 1.0}}


@pytest.fixture(autouse=True)
def release_hung_synthesis():
    _release_hung.clear()
    yield
    _release_hung.set()  # the worker thread stuck in a hang returns to the pool


def spoken_words(client: AvatarClient, utterance: int) -> list[str]:
    return [e["text"].strip(".,").lower() for e in client.events if e["type"] == "word" and e["utterance"] == utterance]


@pytest.mark.parametrize("bad_phrase, reason", [("This part will explode now.", "synthesizer crashed"),
                                               ("This part will freeze now.", "timed out")])
async def test_failing_phrase_is_reported_and_skipped(ws_url, bad_phrase, reason):
    client = await AvatarClient.connect(ws_url)
    try:
        await client.wait_for_media()
        await client.say(f"The first part is fine. {bad_phrase} The last part is fine too.")
        error = await client.wait_for("error", timeout=20, raise_errors=False)
        ended = await client.wait_for("speech_ended", timeout=20)
        await client.say("Still talking.")
        after = await client.wait_for("speech_ended", timeout=20)
    finally:
        await client.close()

    assert error["code"] == "tts_failed" and reason in error["message"]
    assert ended["interrupted"] is False
    words = spoken_words(client, 1)
    assert words[:4] == ["the", "first", "part", "is"] and words[-3:] == ["is", "fine", "too"]
    assert RAISE_WORD not in words and HANG_WORD not in words
    assert after["utterance"] == 2 and after["interrupted"] is False and spoken_words(client, 2) == ["still", "talking"]


class FailingBackend(OnnxRuntimeBackend):
    """The real network, until the device goes away after `healthy_calls` inferences."""

    def __init__(self, healthy_calls: int) -> None:
        super().__init__(DEFAULT_MODEL)
        self.calls_left = healthy_calls

    def run(self, mel: np.ndarray) -> np.ndarray:
        self.calls_left -= 1
        if self.calls_left < 0:
            raise RuntimeError("device lost")
        return super().run(mel)


def speech_pushes() -> list[tuple[np.ndarray, list]]:
    """A real sentence as the speaker hands it to a face stream: three phrases, 48 kHz, phoneme timings."""
    engine = EspeakEngine()
    pushes = []
    for phrase in ("Hello there, my friend.", "Watch my mouth move.", "Bye for now."):
        speech = engine.synthesize(phrase)
        pushes.append((resample(speech.pcm, speech.sample_rate, TIMELINE_RATE), speech.phonemes))
    return pushes


async def collect(stream, pushes) -> dict[int, np.ndarray]:
    frames: dict[int, np.ndarray] = {}
    for pcm, phonemes in pushes:
        batch = await stream.push(pcm, phonemes)
        for offset, params in enumerate(batch.params):
            assert batch.first_frame + offset not in frames, "a frame was handed out twice"
            frames[batch.first_frame + offset] = params
    batch = await stream.flush()
    frames.update({batch.first_frame + i: p for i, p in enumerate(batch.params)})
    return frames


async def test_stream_falls_back_to_phonemes_at_the_same_position(caplog):
    pushes = speech_pushes()
    batcher = InferenceBatcher(FailingBackend(healthy_calls=1))
    reasons: list[str] = []
    stream = FallbackFaceStream(NetworkFaceStream(batcher, batcher.backend.window), PhonemeFaceStream, reasons.append)
    try:
        with caplog.at_level(logging.WARNING, logger="engines.face.fallback"):
            frames = await collect(stream, pushes)
    finally:
        batcher.close()
    reference = await collect(PhonemeFaceStream(), pushes)

    assert reasons == ["RuntimeError: device lost"] and stream.failed_reason == reasons[0]
    assert "device lost" in caplog.text and "phoneme driver" in caplog.text
    indices = sorted(frames)
    assert indices == list(range(indices[0], indices[-1] + 1)), "the mouth schedule has a hole"
    assert indices[0] == 0 and indices[-1] == max(reference)
    second_phrase = len(pushes[0][0]) // SAMPLES_PER_FRAME + 3
    after = [i for i in indices if i >= second_phrase]
    np.testing.assert_allclose([frames[i] for i in after], [reference[i] for i in after], atol=1e-5)
    assert max(float(frames[i][0]) for i in after) > 0.2, "the fallback must move the jaw while speaking"


@pytest.mark.parametrize("server_options", [{"face_driver": "network"}])
async def test_session_keeps_moving_the_mouth_when_the_network_fails(server, ws_url, caplog):
    client = await AvatarClient.connect(ws_url, keep_video=True)
    try:
        await client.wait_for_media()
        await asyncio.sleep(1.0)
        idle_end = time.monotonic()
        server.services.face.primary.batcher.backend.run = _device_lost
        with caplog.at_level(logging.WARNING, logger="engines.face.fallback"):
            await client.say("Hello there, my name is Joe. I am glad to meet you today.")
            started = await client.wait_for("speech_started", timeout=15)
            ended = await client.wait_for("speech_ended", timeout=20)
    finally:
        await client.close()

    assert ended["interrupted"] is False
    assert not [e for e in client.events if e["type"] == "error"]
    assert "device lost" in caplog.text and "phoneme driver" in caplog.text
    assert server.services.metrics.registry.get_sample_value("avatar_face_fallbacks_total") == 1.0
    box = load_avatar(server.config.avatar).mouth_box
    idle_motion = np.median(mouth_change(client.video, box, idle_end - 0.8, idle_end))
    speech_motion = np.median(mouth_change(client.video, box, started["_at"], ended["_at"]))
    assert speech_motion > 3 * idle_motion + 0.5, (speech_motion, idle_motion)


def _device_lost(mel: np.ndarray) -> np.ndarray:
    raise RuntimeError("device lost")


HUNG_SESSIONS = 3
ON_TIME_S = 2.0  # say -> speech_started; a phrase waiting for a hung synthesis would wait for its release


@pytest.mark.parametrize("server_options", [{
    "tts": "faulty", "workers": {"tts_threads": 2},
    "limits": {"tts_timeout_s": 30.0}, "isolation": {"tts_stall_s": 0.5, "tts_max_stalled": 8},
}])
async def test_hung_syntheses_of_several_sessions_leave_another_speaking_on_time(server, ws_url):
    hung = [await AvatarClient.connect(ws_url) for _ in range(HUNG_SESSIONS)]
    talker = await AvatarClient.connect(ws_url)
    try:
        await asyncio.gather(*(c.wait_for_media() for c in [*hung, talker]))
        for client in hung:
            await client.say("Please freeze right here.")
        async with asyncio.timeout(10):
            while server.services.tts_pool.stalled < HUNG_SESSIONS:
                await asyncio.sleep(0.05)
        said = time.monotonic()
        await talker.say("I still speak on time.")
        started = await talker.wait_for("speech_started", timeout=10)
        ended = await talker.wait_for("speech_ended", timeout=20)
        assert started["_at"] - said < ON_TIME_S, started["_at"] - said
        assert ended["spoken_text"] == "I still speak on time." and not ended["interrupted"]
        assert server.services.metrics.registry.get_sample_value("avatar_tts_stalled_threads") == HUNG_SESSIONS
        _release_hung.set()  # the engines return: the stalled threads rejoin or end, the hung phrases are spoken
        for client in hung:
            assert (await client.wait_for("speech_ended", timeout=20))["spoken_text"] == "Please freeze right here."
        assert server.services.tts_pool.stalled == 0
    finally:
        await asyncio.gather(*(c.close() for c in [*hung, talker]))
