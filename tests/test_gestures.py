"""The speech-gesture stream (engines/face/gestures.py): audio in, head and brow motion per video frame out."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from engines.face.gestures import BROW, DECISION_FRAMES, NOD, GestureStream
from engines.face.prosody import StreamingProsody, first_frame_at
from engines.resample import resample
from engines.timebase import N_GESTURES, SAMPLES_PER_FRAME, TIMELINE_RATE, frame_center
from engines.tts.espeak_engine import EspeakEngine

TEXT = ("Good morning, everyone. I have some truly wonderful news today! "
        "We finished the whole project, and it works. Can you believe that?")


@functools.lru_cache(maxsize=1)
def speech() -> np.ndarray:
    """Half a second of silence, real TTS speech, then two seconds of silence, on the 48 kHz timeline."""
    spoken = EspeakEngine().synthesize(TEXT)
    return np.concatenate([np.zeros(TIMELINE_RATE // 2, np.int16),
                           resample(spoken.pcm, spoken.sample_rate, TIMELINE_RATE), np.zeros(2 * TIMELINE_RATE, np.int16)])


def run(pcm: np.ndarray, seed: int = 0, chunk: int | None = None, start: int = 0,
        lookahead_frames: int = DECISION_FRAMES) -> tuple[int, np.ndarray]:
    stream = GestureStream(seed, lookahead_frames)
    stream.reset(start)
    chunk = chunk or len(pcm)
    parts = [stream.push(pcm[i: i + chunk]) for i in range(0, len(pcm), chunk)] + [stream.flush()]
    for before, after in zip(parts, parts[1:]):
        assert after.first_frame == before.first_frame + len(before), "frames come out in order, none skipped"
    return parts[0].first_frame, np.concatenate([p.params for p in parts])


def test_the_same_audio_gives_the_same_gestures_however_it_is_cut():
    _, whole = run(speech(), seed=4)
    for chunk in (960, 1234, 7777):
        np.testing.assert_array_equal(run(speech(), seed=4, chunk=chunk)[1], whole)
    assert not np.array_equal(run(speech(), seed=5)[1], whole), "the seed varies the gestures"


def test_speech_nods_the_head_and_raises_the_brows_and_silence_does_nothing():
    _, gestures = run(speech())
    assert gestures.shape[1] == N_GESTURES and gestures.dtype == np.float32
    assert np.abs(gestures).max() <= 1.0 and gestures[:, BROW].min() >= 0.0
    speaking = slice(first_frame_at(TIMELINE_RATE // 2), (len(speech()) - 2 * TIMELINE_RATE) // SAMPLES_PER_FRAME)
    nod = gestures[speaking, NOD]
    assert np.abs(nod).max() > 0.3
    beats = np.flatnonzero((nod[1:-1] > nod[:-2]) & (nod[1:-1] >= nod[2:]) & (nod[1:-1] > 0.15))
    assert len(beats) >= 4, "several nods over the sentences, not one drift"
    assert gestures[speaking, BROW].max() > 0.4, "emphasis lifts the brows"
    assert not gestures[: first_frame_at(TIMELINE_RATE // 2) - 1].any(), "nothing before the speech"
    _, silent = run(np.zeros(3 * TIMELINE_RATE, np.int16))
    assert not silent.any()


def test_motion_is_smooth_and_settles_to_rest_after_the_speech():
    _, gestures = run(speech())
    assert np.abs(np.diff(gestures, axis=0)).max() < 0.6, "no jumps between frames (a quick nod moves 2 px a frame)"
    np.testing.assert_allclose(gestures[-1], 0.0, atol=0.02)  # under a tenth of a pixel of head motion


def test_a_quiet_voice_moves_the_head_as_a_loud_one_does():
    """The voice's level is learnt as it speaks, so a microphone 20 dB quieter than TTS still gestures."""
    _, loud = run(speech())
    _, quiet = run((speech() * 0.1).astype(np.int16))
    beats = [int((np.abs(g[:, NOD]) > 0.15).sum()) for g in (loud, quiet)]
    assert beats[1] > 0.6 * beats[0]


@pytest.mark.parametrize("lookahead_frames", [DECISION_FRAMES, 0])
def test_frames_come_out_once_their_look_ahead_is_there(lookahead_frames):
    stream = GestureStream(0, lookahead_frames)
    lookahead = stream.lookahead_samples
    start = 12_345
    stream.reset(start)
    pushed, seen = start, first_frame_at(start)
    for size in (100, 2000, 5000, 20_000, 33):
        out = stream.push(speech()[:size])
        pushed += size
        assert out.first_frame == seen
        seen += len(out)
        assert seen == first_frame_at(start) or frame_center(seen - 1) + lookahead <= pushed
        assert frame_center(seen) + lookahead > pushed
    assert lookahead <= 0.12 * TIMELINE_RATE, "no more look-ahead than the face network's"


def test_without_look_ahead_the_same_gestures_come_at_most_its_frames_later():
    """Voice mode's gestures decide a stressed syllable as late as ever and start its nod with the next frame out:
    the same motion, shifted by no more than the look-ahead it does without."""
    _, full = run(speech(), seed=3)
    _, late = run(speech(), seed=3, lookahead_frames=0)
    assert len(late) == len(full) and not np.array_equal(late, full)
    peaks = [np.flatnonzero((g[1:-1, NOD] > g[:-2, NOD]) & (g[1:-1, NOD] >= g[2:, NOD]) & (g[1:-1, NOD] > 0.15))
             for g in (full, late)]
    assert len(peaks[0]) >= 4 and len(peaks[1]) == len(peaks[0]), peaks
    assert all(0 <= b - a <= DECISION_FRAMES for a, b in zip(*peaks)), peaks
    np.testing.assert_allclose(late[-1], 0.0, atol=0.02)


def test_reset_forgets_the_motion_and_keeps_the_voice():
    stream = GestureStream(2)
    assert np.abs(stream.push(speech()[: 3 * TIMELINE_RATE]).params).max() > 0.01
    stream.reset(10 * TIMELINE_RATE)
    after = stream.push(np.zeros(TIMELINE_RATE // 2, np.int16))
    assert after.first_frame == first_frame_at(10 * TIMELINE_RATE) and not after.params.any()


@pytest.mark.parametrize("hz", [110.0, 220.0])
def test_prosody_reads_loudness_and_pitch(hz):
    t = np.arange(TIMELINE_RATE) / TIMELINE_RATE
    tone = (0.3 * 32767 * np.sin(2 * np.pi * hz * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * hz * t))).astype(np.int16)
    features = StreamingProsody(0).push(tone)
    inner = slice(2, len(features.loudness_db) - 2)
    pitch_hz = 100 * 2 ** (features.pitch_st[inner] / 12)
    np.testing.assert_allclose(pitch_hz, hz, rtol=0.03)
    assert (np.abs(features.loudness_db[inner] - features.loudness_db[inner].mean()) < 1.0).all()
    assert np.isnan(StreamingProsody(0).push(np.zeros(9600, np.int16)).pitch_st).all()
