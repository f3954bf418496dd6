"""The text performer takes a phrase from its engine piece by piece (TTSEngine.stream): the first piece plays while
the engine is still making the rest, the pieces join without a seam (the audio is the whole phrase's, resampled as
one signal), and words that come after their audio land where they were spoken."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from engines.resample import resample
from engines.timebase import TIMELINE_RATE
from engines.tts import registry
from engines.tts.base import Speech, SynthesisOptions, Timed
from engines.tts.espeak_engine import EspeakEngine
from server.services import Services
from tests.conftest import make_config
from tests.fake_time import Run

PHRASE = "This is a long phrase that the engine makes in three pieces one after the other."  # one phrase
_release_last = threading.Event()
_first_sent = threading.Event()


class PiecewiseEngine(EspeakEngine):
    """espeak-ng's speech of a phrase in three pieces; the last waits until the test releases it, and the last
    word is told only after all the audio (with a negative start), as engines that time words at the end do."""

    name = "piecewise"
    made: list[Speech] = []  # the whole speech of each phrase streamed (espeak-ng's output varies between calls)

    def stream(self, text: str, voice: str | None = None, *, options: SynthesisOptions | None = None) -> Iterator[Speech]:
        whole = self.synthesize(text, voice, options=options)
        self.made.append(whole)
        rate, pcm = whole.sample_rate, whole.pcm
        cuts = [0, len(pcm) // 3, 2 * len(pcm) // 3, len(pcm)]
        *told, late = whole.words
        for k, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
            if k == 2:
                _release_last.wait(30)
            begin, end = a / rate, b / rate
            words = [Timed(w.text, w.start - begin, w.end - begin) for w in told if begin <= w.start < end]
            yield Speech(pcm[a:b], rate, [], words)
            _first_sent.set()
        end = len(pcm) / rate
        yield Speech(np.zeros(0, np.int16), rate, [], [Timed(late.text, late.start - end, late.end - end)])


@pytest.fixture
def services(monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "piecewise", f"{__name__}:PiecewiseEngine")
    _release_last.clear()
    _first_sent.clear()
    yield Services(make_config(tts="piecewise", tts_engines=(), text={"phrase_max_chars": (200, 200, 200)}))
    _release_last.set()


async def test_a_phrase_plays_from_its_first_piece_and_its_pieces_join_without_a_seam(services):
    PiecewiseEngine.made.clear()
    run = Run(services)
    try:
        run.pipeline.text(PHRASE, id="long", flush=True)
        assert await _wait(_first_sent)
        await run.run_until(1.0)
        assert "speech_started" in run.types(), "the first piece plays before the engine made the last"
        _release_last.set()
        await run.pipeline.speaker.synthesized()
        (whole,) = PiecewiseEngine.made
        await run.run_until(whole.duration + 2.0)
    finally:
        await run.close()

    ended = run.events[-1][1]
    assert ended["type"] == "speech_ended" and ended["spoken_text"] == PHRASE and not ended["interrupted"]
    pcm = np.concatenate([f.pcm for f in run.audio]).astype(np.int32)
    expected = resample(whole.pcm, whole.sample_rate, TIMELINE_RATE).astype(np.int32)
    first = int(np.flatnonzero(np.abs(pcm) > 200)[0])
    offset = first - int(np.flatnonzero(np.abs(expected) > 200)[0])
    heard = pcm[offset : offset + len(expected)]
    assert np.abs(heard[first - offset :] - expected[first - offset :]).max() <= 1, "the pieces join as one signal"

    words = [event for _, event in run.events if event["type"] == "word"]
    assert [w["text"] for w in words] == [w.text for w in whole.words]
    late, told_last = words[-1], words[-2]
    spoken_at = whole.words[-1].start - whole.words[-2].start
    assert abs((late["start_ms"] - told_last["start_ms"]) / 1000 - spoken_at) < 0.01, "the late word where it was said"


async def _wait(event: threading.Event, timeout: float = 30.0) -> bool:
    return await asyncio.to_thread(event.wait, timeout)

