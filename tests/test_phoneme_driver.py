"""The phoneme face driver on the 48 kHz timeline: frame timing, chunking, reset, flush."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from engines.face.phoneme_driver import PhonemeFaceEngine
from engines.face.visemes import mouth_curves
from engines.timebase import SAMPLES_PER_FRAME, TIMELINE_RATE, FrameParams, frame_center
from engines.tts.base import Speech, Timed
from engines.tts.piper_engine import PiperEngine

CLOSE = 3


@pytest.fixture(scope="module")
def speech() -> Speech:
    return PiperEngine().synthesize("Maybe Bob will bring the map home.")


def _pcm48(speech: Speech) -> np.ndarray:
    return resample_poly(speech.pcm.astype(np.float32), TIMELINE_RATE // 300, speech.sample_rate // 300).astype(np.int16)


def _shifted(phonemes: list[Timed], offset_s: float) -> list[Timed]:
    return [Timed(p.text, p.start + offset_s, p.end + offset_s) for p in phonemes]


def _joined(results: list[FrameParams]) -> tuple[int, np.ndarray]:
    results = [r for r in results if len(r)]
    for before, after in zip(results, results[1:]):
        assert after.first_frame == before.first_frame + len(before)  # consecutive, never twice
    return results[0].first_frame, np.concatenate([r.params for r in results])


def test_engine_identity() -> None:
    engine = PhonemeFaceEngine()
    assert (engine.name, engine.backend) == ("phonemes", "table")


async def test_frames_come_out_once_their_lookahead_is_covered(speech: Speech) -> None:
    stream = PhonemeFaceEngine(lookahead_s=0.1).open_stream()
    assert stream.lookahead_samples == 4800
    result = await stream.push(np.zeros(frame_center(0) + 4799, dtype=np.int16))
    assert len(result) == 0
    result = await stream.push(np.zeros(1, dtype=np.int16))
    assert (result.first_frame, len(result)) == (0, 1)
    result = await stream.push(np.zeros(SAMPLES_PER_FRAME * 3, dtype=np.int16))
    assert (result.first_frame, len(result)) == (1, 3)
    assert np.abs(result.params).max() == 0.0  # audio without phonemes: rest


async def test_chunked_pushes_give_the_same_frames_as_one(speech: Speech) -> None:
    pcm = _pcm48(speech)
    engine = PhonemeFaceEngine()
    whole = engine.open_stream()
    expected = _joined([await whole.push(pcm, speech.phonemes), await whole.flush()])

    chunked = engine.open_stream()
    cuts = [0, 1000, 1001, 7777, 30000, 30000, len(pcm) - 5, len(pcm)]
    results, pushed = [], 0
    for start, end in zip(cuts, cuts[1:]):
        # Each chunk carries the phonemes that start in it, in seconds from the chunk's first sample.
        mine = [p for p in speech.phonemes if start <= p.start * TIMELINE_RATE < end]
        results.append(await chunked.push(pcm[start:end], _shifted(mine, -start / TIMELINE_RATE)))
        pushed += len(mine)
    assert pushed == len(speech.phonemes)
    results.append(await chunked.flush())
    first, params = _joined(results)
    assert first == expected[0] == 0
    np.testing.assert_allclose(params, expected[1], atol=1e-6)
    frames_in_audio = (len(pcm) - SAMPLES_PER_FRAME // 2) // SAMPLES_PER_FRAME + 1
    assert len(params) == frames_in_audio


async def test_frames_follow_the_phonemes_on_the_timeline(speech: Speech) -> None:
    pcm = _pcm48(speech)
    lead_in = np.zeros(SAMPLES_PER_FRAME * 10, dtype=np.int16)  # 0.4 s of silence before the phrase
    stream = PhonemeFaceEngine().open_stream()
    first, params = _joined([await stream.push(lead_in), await stream.push(pcm, speech.phonemes), await stream.flush()])
    centres = frame_center(np.arange(first, first + len(params))) / TIMELINE_RATE
    offline = mouth_curves(_shifted(speech.phonemes, 0.4), centres)
    assert np.abs(params[:10]).max() < 0.02
    assert np.corrcoef(params[:, 0], offline[:, 0])[0, 1] > 0.98
    closed = centres[params[:, CLOSE] > 0.9]
    bilabials = [p for p in _shifted(speech.phonemes, 0.4) if p.text in ("m", "b", "p")]
    assert len(closed) >= len(bilabials) >= 4
    assert all(any(p.start - 0.04 <= t <= p.end + 0.04 for p in bilabials) for t in closed)


async def test_reset_continues_at_a_new_position(speech: Speech) -> None:
    stream = PhonemeFaceEngine().open_stream()
    await stream.push(_pcm48(speech), speech.phonemes)
    stream.reset(100 * SAMPLES_PER_FRAME + 5)
    result = await stream.push(np.zeros(SAMPLES_PER_FRAME * 5, dtype=np.int16))
    assert result.first_frame == 100  # its centre lies after the reset point
    assert np.abs(result.params).max() == 0.0  # the old phonemes are forgotten
    stream.reset(200 * SAMPLES_PER_FRAME + SAMPLES_PER_FRAME // 2 + 1)
    result = await stream.push(np.zeros(SAMPLES_PER_FRAME * 5, dtype=np.int16), _shifted(speech.phonemes[:3], 0.0))
    assert result.first_frame == 201
